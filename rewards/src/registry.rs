//! Reward components registered by name, and rubrics built from TOML.
//!
//! ```toml
//! [[component]]
//! name = "accuracy"
//! weight = 0.9
//!
//! [[component]]
//! name = "overlong"
//! weight = 1.0
//! max_length = 4096
//! cache_length = 512
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::RewardError;
use crate::rubric::{
    AccuracyReward, BoxedFormatReward, ExtractedAccuracyReward, FormatReward, OverlongReward,
    PartialCreditReward, ReflectionReward, RewardComponent, Rubric,
};
use crate::shaping::{OverlongPenalty, ReflectionDetector};

/// The parameters of one `[[component]]` table (everything but `name` and `weight`), with the
/// field path used in error messages.
#[derive(Debug, Clone)]
pub struct ComponentParams {
    field: String,
    table: toml::Table,
}

impl ComponentParams {
    /// Parameters from a table; `field` is its path in the file (e.g. `component[1]`).
    pub fn new(field: &str, table: toml::Table) -> Self {
        Self {
            field: field.to_owned(),
            table,
        }
    }

    /// The path of a parameter for error messages.
    pub fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.field)
    }

    /// Errors if any parameter is not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), RewardError> {
        match self
            .table
            .keys()
            .find(|key| !allowed.contains(&key.as_str()))
        {
            Some(key) => Err(RewardError::invalid_config(
                &self.path(key),
                &self.table[key].to_string(),
                &format!("unknown parameter (allowed: {})", allowed.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// A non-negative integer parameter, or `default` when absent.
    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize, RewardError> {
        match self.table.get(key) {
            None => Ok(default),
            Some(value) => value
                .as_integer()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    RewardError::invalid_config(
                        &self.path(key),
                        &value.to_string(),
                        "expected a non-negative integer",
                    )
                }),
        }
    }

    /// A list-of-strings parameter, if present.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, RewardError> {
        let Some(value) = self.table.get(key) else {
            return Ok(None);
        };
        let bad = || {
            RewardError::invalid_config(
                &self.path(key),
                &value.to_string(),
                "expected a list of strings",
            )
        };
        let array = value.as_array().ok_or_else(bad)?;
        array
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

/// Builds a component from its parameters.
pub type ComponentFactory =
    Arc<dyn Fn(&ComponentParams) -> Result<Arc<dyn RewardComponent>, RewardError> + Send + Sync>;

/// Components by name.
#[derive(Clone, Default)]
pub struct ComponentRegistry {
    factories: BTreeMap<String, ComponentFactory>,
}

impl std::fmt::Debug for ComponentRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

/// Factory for a component without parameters.
fn plain<C: RewardComponent + Copy + 'static>(component: C) -> ComponentFactory {
    Arc::new(move |params: &ComponentParams| {
        params.only(&[])?;
        Ok(Arc::new(component) as Arc<dyn RewardComponent>)
    })
}

impl ComponentRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in components: `accuracy`, `accuracy_extracted`, `format`, `boxed_format`,
    /// `partial_credit`, `overlong` (`max_length`, `cache_length`) and `reflection`
    /// (`phrases`, `cap`).
    pub fn standard() -> Self {
        let mut registry = Self::new();
        registry.register("accuracy", plain(AccuracyReward));
        registry.register("accuracy_extracted", plain(ExtractedAccuracyReward));
        registry.register("format", plain(FormatReward));
        registry.register("boxed_format", plain(BoxedFormatReward));
        registry.register("partial_credit", plain(PartialCreditReward));
        registry.register(
            "overlong",
            Arc::new(|params: &ComponentParams| {
                params.only(&["max_length", "cache_length"])?;
                let max_length = params.usize_or("max_length", 4096)?;
                let cache_length = params.usize_or("cache_length", 512)?;
                let penalty = OverlongPenalty::new(max_length, cache_length).map_err(|_| {
                    RewardError::invalid_config(
                        &params.path("cache_length"),
                        &cache_length.to_string(),
                        &format!("need 0 < cache_length <= max_length ({max_length})"),
                    )
                })?;
                Ok(Arc::new(OverlongReward(penalty)) as Arc<dyn RewardComponent>)
            }),
        );
        registry.register(
            "reflection",
            Arc::new(|params: &ComponentParams| {
                params.only(&["phrases", "cap"])?;
                let detector = match params.strings("phrases")? {
                    Some(phrases) => ReflectionDetector::new(phrases).map_err(|_| {
                        RewardError::invalid_config(
                            &params.path("phrases"),
                            "\"\"",
                            "reflection phrases must not be empty",
                        )
                    })?,
                    None => ReflectionDetector::default(),
                };
                let cap = params.usize_or("cap", 3)?;
                if cap == 0 {
                    return Err(RewardError::invalid_config(
                        &params.path("cap"),
                        "0",
                        "cap must be at least 1",
                    ));
                }
                Ok(Arc::new(ReflectionReward { detector, cap }) as Arc<dyn RewardComponent>)
            }),
        );
        registry
    }

    /// Registers (or replaces) a component factory under `name`.
    pub fn register(&mut self, name: &str, factory: ComponentFactory) {
        self.factories.insert(name.to_owned(), factory);
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.factories.keys().map(String::as_str).collect()
    }

    /// Builds the component registered as `name`.
    pub fn build(
        &self,
        name: &str,
        params: &ComponentParams,
    ) -> Result<Arc<dyn RewardComponent>, RewardError> {
        let factory = self
            .factories
            .get(name)
            .ok_or_else(|| RewardError::UnknownComponent {
                name: name.to_owned(),
                known: self.names().join(", "),
            })?;
        factory(params)
    }

    /// Builds a rubric from TOML text with `[[component]]` tables (`name`, `weight`, params).
    pub fn rubric_from_toml(&self, text: &str) -> Result<Rubric, RewardError> {
        let document: toml::Table = text.parse().map_err(|err: toml::de::Error| {
            RewardError::invalid_config("rubric", "<toml>", &err.to_string())
        })?;
        if let Some(key) = document.keys().find(|key| key.as_str() != "component") {
            return Err(RewardError::invalid_config(
                key,
                &document[key].to_string(),
                "unknown top-level key (expected [[component]] tables)",
            ));
        }
        let Some(entries) = document.get("component").and_then(toml::Value::as_array) else {
            return Err(RewardError::invalid_config(
                "component",
                "<missing>",
                "a rubric needs at least one [[component]] table",
            ));
        };
        let mut rubric = Rubric::new();
        for (index, entry) in entries.iter().enumerate() {
            let field = format!("component[{index}]");
            let mut table = entry.as_table().cloned().ok_or_else(|| {
                RewardError::invalid_config(&field, &entry.to_string(), "expected a table")
            })?;
            let name = match table.remove("name") {
                Some(toml::Value::String(name)) => name,
                other => {
                    return Err(RewardError::invalid_config(
                        &format!("{field}.name"),
                        &other.map_or("<missing>".to_owned(), |v| v.to_string()),
                        "expected the component's name as a string",
                    ))
                }
            };
            let weight = match table.remove("weight") {
                Some(toml::Value::Float(weight)) => weight,
                Some(toml::Value::Integer(weight)) => weight as f64,
                other => {
                    return Err(RewardError::invalid_config(
                        &format!("{field}.weight"),
                        &other.map_or("<missing>".to_owned(), |v| v.to_string()),
                        "expected a number",
                    ))
                }
            };
            let component = self.build(&name, &ComponentParams::new(&field, table))?;
            rubric = rubric.try_with_shared(weight as f32, component)?;
        }
        Ok(rubric)
    }

    /// Builds a rubric from a TOML file; errors name the file.
    pub fn rubric_from_file(&self, path: &Path) -> Result<Rubric, RewardError> {
        let text = std::fs::read_to_string(path).map_err(|err| RewardError::ConfigFile {
            path: path.display().to_string(),
            message: err.to_string(),
        })?;
        self.rubric_from_toml(&text)
            .map_err(|err| RewardError::ConfigFile {
                path: path.display().to_string(),
                message: err.to_string(),
            })
    }
}
