//! `count_modules`: the installed modules of one database counted on disk,
//! each module directory read once per run however many databases share it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::Rules;
use super::book::Book;
use super::walk::{self, Crash, ModuleCount};
use crate::odoo::addons::{self, AddonsPath};

/// The counts of one run, shared by every database that uses the same
/// module directories under the same rules. Dropped with the run, so the
/// daemon's memory returns to its idle size.
#[derive(Debug, Default)]
pub struct Counter {
    done: Mutex<Counted>,
}

/// One module directory's count, shared by the databases that use it.
pub type Shared = Arc<Result<ModuleCount, Crash>>;

/// The directories counted so far, with the rules they were counted under.
type Counted = HashMap<(PathBuf, Rules), Shared>;

/// How one installed module was treated.
#[derive(Debug, Clone)]
pub enum ModuleOutcome {
    Counted(Arc<Result<ModuleCount, Crash>>),
    /// In a standard directory (Odoo's own code): not counted.
    Standard {
        name: String,
        path: PathBuf,
    },
    /// Not on disk, which 19.0 skips (16–18 raise instead).
    Missing {
        name: String,
    },
}

/// The disk part of one database's count.
#[derive(Debug, Clone, Default)]
pub struct DiskCount {
    pub standard_dirs: Vec<PathBuf>,
    pub modules: Vec<ModuleOutcome>,
}

impl DiskCount {
    /// The first reason the whole count raises, if any.
    pub fn crash(&self) -> Option<Crash> {
        self.modules.iter().find_map(|m| match m {
            ModuleOutcome::Counted(result) => result.as_ref().as_ref().err().cloned(),
            _ => None,
        })
    }

    /// Books every counted module, in order.
    pub fn book(&self, book: &mut Book) {
        for outcome in &self.modules {
            let ModuleOutcome::Counted(result) = outcome else {
                continue;
            };
            let Ok(module) = result.as_ref() else {
                continue;
            };
            book.open(&module.key);
            for file in &module.files {
                match file.result {
                    Ok(lines) => book.add(&module.key, lines.code),
                    Err(_) => book.error(&module.key),
                }
            }
        }
    }
}

impl Counter {
    /// Counts `modules` (installed, in `ir.module.module` order) as found in
    /// `addons`. Blocking: call it from a blocking task.
    pub fn count(&self, modules: &[String], addons: &AddonsPath, rules: Rules) -> DiskCount {
        let standard_dirs = addons.standard_dirs();
        let mut outcomes = Vec::with_capacity(modules.len());
        for name in modules {
            let Some(path) = addons.module_path(name) else {
                if rules.exact_standard_dirs() {
                    outcomes.push(ModuleOutcome::Missing { name: name.clone() });
                    continue;
                }
                let crash = Err(Crash::ModuleNotFound {
                    module: name.clone(),
                });
                outcomes.push(ModuleOutcome::Counted(Arc::new(crash)));
                break; // Odoo raises here: nothing after it is counted
            };
            let real = addons::realpath(&path);
            if addons::is_standard(&real, &standard_dirs, rules.exact_standard_dirs()) {
                outcomes.push(ModuleOutcome::Standard {
                    name: name.clone(),
                    path: real,
                });
                continue;
            }
            let counted = self.count_dir(real, rules);
            let crashed = counted.is_err();
            outcomes.push(ModuleOutcome::Counted(counted));
            if crashed {
                break;
            }
        }
        DiskCount {
            standard_dirs,
            modules: outcomes,
        }
    }

    fn count_dir(&self, dir: PathBuf, rules: Rules) -> Arc<Result<ModuleCount, Crash>> {
        let key = (dir, rules);
        if let Some(done) = self.lock().get(&key) {
            return done.clone();
        }
        let counted = Arc::new(walk::count_path(&key.0, rules));
        self.lock().insert(key, counted.clone());
        counted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counted> {
        self.done
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many module directories were read in this run.
    pub fn directories_counted(&self) -> usize {
        self.lock().len()
    }
}
