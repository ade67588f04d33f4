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

/// Threads one count uses: counting is CPU-bound once the files are cached.
pub const THREADS: usize = 4;

/// What to do with one installed module, before any file is read.
enum Step {
    Done(ModuleOutcome),
    Count(PathBuf),
}

/// Resolves every module: counted, standard, missing (19 skips it) or not
/// found (16–18 raise, so nothing after it is planned).
fn plan(
    modules: &[String],
    addons: &AddonsPath,
    standard_dirs: &[PathBuf],
    rules: Rules,
) -> Vec<Step> {
    let mut steps = Vec::with_capacity(modules.len());
    for name in modules {
        let Some(path) = addons.module_path(name) else {
            if rules.exact_standard_dirs() {
                steps.push(Step::Done(ModuleOutcome::Missing { name: name.clone() }));
                continue;
            }
            let crash = Err(Crash::ModuleNotFound {
                module: name.clone(),
            });
            steps.push(Step::Done(ModuleOutcome::Counted(Arc::new(crash))));
            break;
        };
        let real = addons::realpath(&path);
        if addons::is_standard(&real, standard_dirs, rules.exact_standard_dirs()) {
            steps.push(Step::Done(ModuleOutcome::Standard {
                name: name.clone(),
                path: real,
            }));
        } else {
            steps.push(Step::Count(real));
        }
    }
    steps
}

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
    /// `addons`, on up to [`THREADS`] threads. Blocking: call it from a
    /// blocking task.
    pub fn count(&self, modules: &[String], addons: &AddonsPath, rules: Rules) -> DiskCount {
        let standard_dirs = addons.standard_dirs();
        let plan = plan(modules, addons, &standard_dirs, rules);
        let dirs: Vec<&PathBuf> = plan
            .iter()
            .filter_map(|step| match step {
                Step::Count(dir) => Some(dir),
                Step::Done(_) => None,
            })
            .collect();
        let counted = self.count_dirs(&dirs, rules);
        let mut counted = counted.into_iter();
        let mut outcomes = Vec::with_capacity(plan.len());
        for step in plan {
            let outcome = match step {
                Step::Done(outcome) => outcome,
                Step::Count(_) => match counted.next() {
                    Some(result) => ModuleOutcome::Counted(result),
                    None => break,
                },
            };
            let crashed = matches!(&outcome, ModuleOutcome::Counted(r) if r.is_err());
            outcomes.push(outcome);
            if crashed {
                break; // Odoo raises here: nothing after it is counted
            }
        }
        DiskCount {
            standard_dirs,
            modules: outcomes,
        }
    }

    /// Counts `dirs` on a few threads; results in the order of `dirs`. The
    /// directories counted already answer from the cache on this thread: in
    /// a burst every database after the first finds its modules counted, and
    /// must not pay for threads it does not need.
    fn count_dirs(&self, dirs: &[&PathBuf], rules: Rules) -> Vec<Shared> {
        let cached: Vec<Option<Shared>> = {
            let done = self.lock();
            dirs.iter()
                .map(|dir| done.get(&((*dir).clone(), rules)).cloned())
                .collect()
        };
        let todo: Vec<usize> = (0..dirs.len()).filter(|&i| cached[i].is_none()).collect();
        let results = Mutex::new(cached);
        let count_todo = |scratch: &mut walk::Scratch, next: &std::sync::atomic::AtomicUsize| loop {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(&i) = todo.get(n) else { break };
            let counted = self.count_dir(dirs[i].clone(), rules, scratch);
            results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(counted);
        };
        let next = std::sync::atomic::AtomicUsize::new(0);
        match THREADS.min(todo.len()) {
            0 => {}
            1 => count_todo(&mut walk::Scratch::default(), &next),
            threads => std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| count_todo(&mut walk::Scratch::default(), &next));
                }
            }),
        }
        results
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .flatten()
            .collect()
    }

    fn count_dir(
        &self,
        dir: PathBuf,
        rules: Rules,
        scratch: &mut walk::Scratch,
    ) -> Arc<Result<ModuleCount, Crash>> {
        let key = (dir, rules);
        if let Some(done) = self.lock().get(&key) {
            return done.clone();
        }
        let counted = Arc::new(walk::count_path_in(&key.0, rules, scratch));
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
