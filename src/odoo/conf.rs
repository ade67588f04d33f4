//! Placeholder until the configparser-compatible reader lands (branch `glob`).
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct OdooConf {
    options: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfError(pub String);

impl OdooConf {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub fn read(path: &Path) -> Result<OdooConf, ConfError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfError(format!("{}: {e}", path.display())))?;
    let mut options = Vec::new();
    let mut in_options = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_options = line == "[options]";
        } else if in_options {
            if let Some((k, v)) = line.split_once('=') {
                options.push((k.trim().to_lowercase(), v.trim().to_string()));
            }
        }
    }
    Ok(OdooConf { options })
}
