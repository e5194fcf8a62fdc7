//! medgym: medical visual question answering as reinforcement-learning environments.
