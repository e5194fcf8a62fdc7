//! `medgym bench sampling --instruction-set`: every supported CPU build is timed in one run, and
//! the flag is refused where it does not apply.

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_medgym"))
        .args(["bench", "sampling", "--batch", "2", "--vocab", "300"])
        .args(["--iterations", "1", "--mode", "top-p"])
        .args(args)
        .output()
        .expect("run medgym")
}

#[test]
fn all_times_every_supported_build_in_one_run() {
    let output = bench(&["--instruction-set", "all"]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let builds: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("instruction set "))
        .collect();
    let supported: Vec<&str> = medgym::kernels::CpuInstructionSet::ALL
        .into_iter()
        .filter(|set| set.is_supported())
        .map(|set| set.name())
        .collect();
    assert_eq!(builds, supported, "{stdout}");
    assert_eq!(
        stdout.matches("top-p 0.9").count(),
        supported.len(),
        "{stdout}"
    );
}

#[test]
fn portable_alone_and_refusals_name_the_flag() {
    let output = bench(&["--instruction-set", "portable"]);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("instruction set portable"));
    let refused = bench(&["--backend", "cuda", "--instruction-set", "avx2"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--instruction-set"),
        "{refused:?}"
    );
}
