use super::*;
use crate::cloc::oracle;
use std::os::unix::fs::symlink;

/// Python side of the oracle: `[[root, pattern], ...]` in, for each case
/// the sorted `str(p)` list or the exception class out.
const GLOB_SCRIPT: &str = r#"
import json, pathlib, sys
out = []
for root, pattern in json.load(sys.stdin):
    try:
        out.append({'ok': sorted(set(str(p) for p in pathlib.Path(root).glob(pattern)))})
    except Exception as e:
        out.append({'err': type(e).__name__})
json.dump(out, sys.stdout)
"#;

fn ours(root: &Path, pattern: &str, version: PythonVersion) -> serde_json::Value {
    match glob(root, pattern, version) {
        Ok(paths) => {
            let list: Vec<String> = paths
                .iter()
                .map(|p| p.to_str().expect("utf-8 test path").to_owned())
                .collect();
            serde_json::json!({ "ok": list })
        }
        Err(e) => serde_json::json!({ "err": e.python_exception() }),
    }
}

/// Runs every case under `version` and compares; returns the mismatches.
fn compare(version: PythonVersion, cases: &[(PathBuf, String)]) -> Vec<String> {
    let input: Vec<(String, String)> = cases
        .iter()
        .map(|(r, p)| (r.to_str().expect("utf-8").to_owned(), p.clone()))
        .collect();
    let stdout = oracle::run(
        version,
        GLOB_SCRIPT,
        serde_json::to_string(&input).expect("json").as_bytes(),
    );
    let theirs: Vec<serde_json::Value> = serde_json::from_slice(&stdout).expect("python json");
    assert_eq!(theirs.len(), cases.len());
    let mut bad = Vec::new();
    for ((root, pattern), want) in cases.iter().zip(theirs) {
        let got = ours(root, pattern, version);
        if got != want {
            bad.push(format!(
                "{version} {} {pattern:?}: python {want} ours {got}",
                root.display()
            ));
        }
    }
    bad
}

const NAMES: [&str; 14] = [
    "a", "b", "ab", ".h", "x.py", "X.PY", "tests", "static", "lib", "c.js", "[a]", "a b", "é",
    "b-c",
];

/// A random tree: directories, files, hidden names, symlinks to
/// directories and files, dangling links and a link loop.
fn random_tree(rng: &mut fastrand::Rng, dir: &Path, depth: u32) {
    let count = rng.usize(2..7);
    for _ in 0..count {
        let name = NAMES[rng.usize(..NAMES.len())];
        let path = dir.join(name);
        if path.symlink_metadata().is_ok() {
            continue;
        }
        match rng.u32(0..10) {
            0..=3 if depth < 3 => {
                std::fs::create_dir(&path).expect("mkdir");
                random_tree(rng, &path, depth + 1);
            }
            0..=5 => std::fs::write(&path, b"x").expect("write"),
            6 => symlink("..", &path).expect("symlink"),
            7 => symlink(NAMES[rng.usize(..NAMES.len())], &path).expect("symlink"),
            8 => symlink("nowhere", &path).expect("symlink"),
            _ => symlink(name, &path).expect("symlink loop"),
        }
    }
}

const COMPONENTS: [&str; 30] = [
    "*", "**", "**", "?", "a", "b", "ab", "tests", "static", "[ab]", "[!a]*", "*.py", "a*", ".",
    "..", "x.py", "*.PY", ".h", "[a-c]*", "?b", "[]a]", "[!]", "*b", "[a", "a**", "é", "[b-a]",
    "[!b-a]", "[--c]*", "a b",
];

fn random_pattern(rng: &mut fastrand::Rng) -> String {
    let n = [1, 1, 2, 2, 2, 3, 4][rng.usize(..7)];
    let mut parts: Vec<&str> = (0..n)
        .map(|_| {
            if rng.bool() {
                ["*", "**", "*", "?*", "*.py", "[a-z]*"][rng.usize(..6)]
            } else {
                COMPONENTS[rng.usize(..COMPONENTS.len())]
            }
        })
        .collect();
    if rng.u32(0..8) == 0 {
        parts.insert(0, ".");
    }
    let mut pattern = parts.join("/");
    match rng.u32(0..12) {
        0..=1 => pattern.push('/'),
        2 => pattern.push_str("//"),
        3 => pattern = pattern.replacen('/', "//", 1),
        _ => {}
    }
    pattern
}

#[test]
fn random_trees_and_patterns_match_every_python() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Deep enough that `..` components never leave the temporary
    // directory (patterns have at most five components).
    let base = tmp.path().join("n1/n2/n3/n4/n5");
    std::fs::create_dir_all(&base).expect("mkdir");
    let mut rng = fastrand::Rng::with_seed(20261206);
    let mut cases = Vec::new();
    for t in 0..40 {
        let root = base.join(format!("t{t}"));
        std::fs::create_dir(&root).expect("mkdir");
        random_tree(&mut rng, &root, 0);
        for _ in 0..15 {
            cases.push((root.clone(), random_pattern(&mut rng)));
        }
    }
    // A root that is missing, and one that is a file.
    std::fs::write(base.join("file"), b"x").expect("write");
    for pattern in ["*", "**", "a", "..", "**/*", "a/"] {
        cases.push((base.join("missing"), pattern.to_owned()));
        cases.push((base.join("file"), pattern.to_owned()));
    }
    let mut bad = Vec::new();
    for version in PythonVersion::ALL {
        bad.extend(compare(version, &cases));
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
    // The cases must exercise what separates the versions, and find things.
    let per_version: Vec<Vec<serde_json::Value>> = PythonVersion::ALL
        .iter()
        .map(|&v| cases.iter().map(|(r, p)| ours(r, p, v)).collect())
        .collect();
    for pair in per_version.windows(2) {
        let differing = pair[0].iter().zip(&pair[1]).filter(|(a, b)| a != b).count();
        assert!(
            differing >= 5,
            "only {differing} cases differ between versions"
        );
    }
    let found = per_version[0]
        .iter()
        .filter(|v| v["ok"].as_array().is_some_and(|a| !a.is_empty()))
        .count();
    assert!(found >= cases.len() / 3, "only {found} cases found paths");
}

/// What the walk of `cloc::walk` leaves in a module's listings: every
/// directory below `dir` that is not a symlink read, and each symlink
/// `stat`ed (the walk asks whether it leads to a directory).
fn read_as_the_walk_does(listings: &mut Listings, dir: &[u8]) {
    let Ok(listing) = listings.list(dir) else {
        return;
    };
    for entry in &listing.entries {
        let path = paths::child(dir, &entry.name);
        match entry.file_type {
            Ok(t) if t.is_symlink() => {
                let _ = listings.stat_is_dir(&path);
            }
            Ok(t) if t.is_dir() => read_as_the_walk_does(listings, &path),
            _ => {}
        }
    }
}

/// One module's patterns share the listings its walk read (see
/// `crate::cloc::listing`): through them, every pattern of the random trees
/// (symlinks to directories and files, dangling links, links to `..`, paths
/// through files and `..`) yields or raises exactly what it does reading the
/// disk on its own, which `random_trees_and_patterns_match_every_python`
/// checks against Python.
#[test]
fn random_patterns_see_the_disk_through_the_walks_listings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let base = tmp.path().join("n1/n2/n3/n4/n5");
    std::fs::create_dir_all(&base).expect("mkdir");
    let mut rng = fastrand::Rng::with_seed(20261207);
    let mut bad = Vec::new();
    let mut compared = 0;
    for t in 0..60 {
        let root = base.join(format!("t{t}"));
        std::fs::create_dir(&root).expect("mkdir");
        random_tree(&mut rng, &root, 0);
        let patterns: Vec<String> = (0..25).map(|_| random_pattern(&mut rng)).collect();
        for version in PythonVersion::ALL {
            let mut listings = Listings::default();
            read_as_the_walk_does(&mut listings, root.as_os_str().as_bytes());
            for pattern in &patterns {
                let shared = glob_in(&root, pattern, version, &mut listings);
                let alone = glob(&root, pattern, version);
                compared += 1;
                if shared != alone {
                    bad.push(format!(
                        "{version} {} {pattern:?}: shared {shared:?}, alone {alone:?}",
                        root.display()
                    ));
                }
            }
        }
    }
    assert_eq!(compared, 60 * 25 * 4);
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The fixture modules with Odoo's default patterns and each manifest's
/// own lists (read by Python as cloc reads them: latin-1, literal_eval).
#[test]
fn fixture_modules_exclude_what_odoo_excludes() {
    const SCRIPT: &str = r#"
import ast, json, os, pathlib, sys
base = sys.stdin.read()
out = []
for name in sorted(os.listdir(base)):
    root = os.path.join(base, name)
    with open(os.path.join(root, '__manifest__.py'), 'rb') as f:
        manifest = ast.literal_eval(f.read().decode('latin-1'))
    patterns = ['__manifest__.py', '__openerp__.py', 'tests/**/*', 'static/lib/**/*',
                'static/tests/**/*', 'migrations/**/*', 'upgrades/**/*']
    patterns += manifest.get('cloc_exclude', []) + manifest.get('demo', []) + manifest.get('demo_xml', [])
    for p in patterns:
        out.append([root, p, sorted(str(x) for x in pathlib.Path(root).glob(p))])
json.dump(out, sys.stdout)
"#;
    let addons =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/odoo-enterprise/addons");
    let addons = addons
        .canonicalize()
        .unwrap_or_else(|e| panic!("fixture addons missing at {}: {e}", addons.display()));
    let mut excluded_311 = BTreeSet::new();
    for version in PythonVersion::ALL {
        let stdout = oracle::run(version, SCRIPT, addons.to_str().expect("utf-8").as_bytes());
        let rows: Vec<(String, String, Vec<String>)> =
            serde_json::from_slice(&stdout).expect("json");
        assert!(rows.len() >= 3 * 7 + 5, "{} patterns", rows.len());
        for (root, pattern, want) in rows {
            let got = glob(Path::new(&root), &pattern, version).expect("glob");
            let got: Vec<String> = got
                .iter()
                .map(|p| p.to_str().expect("utf-8").to_owned())
                .collect();
            assert_eq!(got, want, "{version} {root} {pattern}");
            if version == PythonVersion::Py311 {
                let prefix = addons.to_str().expect("utf-8");
                excluded_311.extend(got.iter().map(|p| p[prefix.len()..].to_owned()));
            }
        }
    }
    for path in [
        "/acme_fleet_checkin/demo/demo.xml",
        "/acme_fleet_checkin/data/big_seed.xml",
        "/acme_fleet_checkin/static/src/generated/gen.js",
        "/acme_fleet_checkin/tests/sub/deep_helper.py",
        "/acme_broken_tools/scripts/ignored_old.py",
    ] {
        assert!(excluded_311.contains(path), "{path} should be excluded");
    }
    for path in [
        "/acme_fleet_checkin/static/src/tests/helper.js",
        "/acme_fleet_checkin/tools/tests/fixture_builder.py",
    ] {
        assert!(!excluded_311.contains(path), "{path} should be counted");
    }
}

/// A tree with the shapes the manifest patterns meet in practice.
fn module_tree(root: &Path) {
    for dir in [
        "static/src/legacy/sub",
        "static/lib/x",
        "tests/sub",
        "real",
        ".hidden",
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    for file in [
        "static/src/legacy/a.js",
        "static/src/legacy/sub/b.js",
        "static/lib/x/y.js",
        "tests/t.py",
        "tests/sub/u.py",
        "real/r.py",
        ".hidden/h.py",
        ".eslintrc.js",
        "__manifest__.py",
    ] {
        std::fs::write(root.join(file), b"x").expect("write");
    }
    symlink("real", root.join("tests/linkdir")).expect("symlink");
    symlink("../real/r.py", root.join("tests/linkfile.py")).expect("symlink");
    symlink("gone.py", root.join("dangling.py")).expect("symlink");
}

fn rel(root: &Path, paths: Vec<PathBuf>) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            let s = p.to_str().expect("utf-8");
            s.strip_prefix(root.to_str().expect("utf-8"))
                .unwrap_or(s)
                .to_owned()
        })
        .collect()
}

#[test]
fn trailing_double_star_matches_files_only_on_313() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    module_tree(root);
    for version in [
        PythonVersion::Py310,
        PythonVersion::Py311,
        PythonVersion::Py312,
    ] {
        let got = rel(
            root,
            glob(root, "static/src/legacy/**", version).expect("glob"),
        );
        assert_eq!(
            got,
            ["/static/src/legacy", "/static/src/legacy/sub"],
            "{version}"
        );
    }
    let got = rel(
        root,
        glob(root, "static/src/legacy/**", PythonVersion::Py313).expect("glob"),
    );
    assert_eq!(
        got,
        [
            "/static/src/legacy",
            "/static/src/legacy/a.js",
            "/static/src/legacy/sub",
            "/static/src/legacy/sub/b.js"
        ]
    );
}

#[test]
fn double_star_does_not_enter_symlinked_directories_but_lists_links() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    module_tree(root);
    for version in PythonVersion::ALL {
        let got = rel(root, glob(root, "tests/**/*", version).expect("glob"));
        assert_eq!(
            got,
            [
                "/tests/linkdir",
                "/tests/linkfile.py",
                "/tests/sub",
                "/tests/sub/u.py",
                "/tests/t.py"
            ],
            "{version}"
        );
        // `*` matches hidden names.
        let got = rel(root, glob(root, "*.js", version).expect("glob"));
        assert_eq!(got, ["/.eslintrc.js"], "{version}");
    }
}

#[test]
fn a_dangling_link_named_literally_exists_from_312_on() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    module_tree(root);
    let expect = |v: PythonVersion| -> Vec<String> {
        if v >= PythonVersion::Py312 {
            vec!["/dangling.py".to_owned()]
        } else {
            Vec::new()
        }
    };
    for version in PythonVersion::ALL {
        let got = rel(root, glob(root, "dangling.py", version).expect("glob"));
        assert_eq!(got, expect(version), "{version}");
        let got = rel(root, glob(root, "dangling.*", version).expect("glob"));
        assert_eq!(got, ["/dangling.py"], "{version}");
    }
}

#[test]
fn parent_and_dot_components_are_kept_as_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    module_tree(root);
    for version in PythonVersion::ALL {
        let got = rel(
            root,
            glob(root, "./tests/../real/*.py", version).expect("glob"),
        );
        assert_eq!(got, ["/tests/../real/r.py"], "{version}");
    }
}

#[test]
fn bad_patterns_raise_what_each_version_raises() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    use GlobError::*;
    use PythonVersion::*;
    let table: [(&str, [GlobError; 4]); 5] = [
        ("", [Unacceptable, Unacceptable, Unacceptable, Unacceptable]),
        (
            "/etc/*",
            [NonRelative, NonRelative, NonRelative, NonRelative],
        ),
        (
            ".",
            [
                NoComponents("IndexError"),
                NoComponents("IndexError"),
                NoComponents("IndexError"),
                Unacceptable,
            ],
        ),
        (
            "./",
            [
                NoComponents("IndexError"),
                NoComponents("AttributeError"),
                NoComponents("AttributeError"),
                Unacceptable,
            ],
        ),
        (
            "a**/x",
            [
                InvalidRecursive,
                InvalidRecursive,
                InvalidRecursive,
                Unacceptable,
            ],
        ),
    ];
    for (pattern, errors) in table {
        for (version, want) in PythonVersion::ALL.into_iter().zip(errors) {
            let got = glob(root, pattern, version);
            if pattern == "a**/x" && version == Py313 {
                assert_eq!(got, Ok(Vec::new()));
            } else {
                assert_eq!(got, Err(want), "{pattern:?} {version}");
            }
        }
    }
    assert_eq!(glob(root, "x\u{0}*", Py313), Ok(Vec::new()));
    assert_eq!(glob(root, "a\u{0}/x", Py313), Err(EmbeddedNul));
    assert_eq!(glob(root, "a\u{0}", Py313), Err(EmbeddedNul));
    assert_eq!(glob(root, "a\u{0}", Py311), Ok(Vec::new()));
}

/// Non-string manifest entries: the error our helper names is the one
/// Python raises.
#[test]
fn non_string_patterns_raise_like_python() {
    const SCRIPT: &str = r#"
import json, pathlib, sys
out = []
for v in [None, 0, 5, False, True, 1.5, [], ['a'], (), b'', b'x', {}]:
    try:
        list(pathlib.Path('/').glob(v)); out.append([bool(v), 'none'])
    except Exception as e:
        out.append([bool(v), type(e).__name__])
json.dump(out, sys.stdout)
"#;
    for version in PythonVersion::ALL {
        let stdout = oracle::run(version, SCRIPT, b"");
        let rows: Vec<(bool, String)> = serde_json::from_slice(&stdout).expect("json");
        for (truthy, class) in rows {
            let ours = GlobError::for_non_string(version, !truthy);
            assert_eq!(ours.python_exception(), class, "{version} truthy={truthy}");
        }
    }
}

/// One component's matcher against `fnmatch.translate` on random names.
#[test]
fn matcher_agrees_with_fnmatch_translate() {
    const SCRIPT: &str = r#"
import fnmatch, json, re, sys
out = []
for pat, names in json.load(sys.stdin):
    rx = re.compile(fnmatch.translate(pat))
    out.append([bool(rx.fullmatch(n)) for n in names])
json.dump(out, sys.stdout)
"#;
    let alphabet: Vec<char> = "ab-!]^[*?\\.é&~|zA".chars().collect();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut cases = Vec::new();
    for _ in 0..3000 {
        let pat: String = (0..rng.usize(1..9))
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        // Half random, half the pattern's own text lightly mutated, so
        // that sets and ranges meet their own characters.
        let names: Vec<String> = (0..8)
            .map(|i| {
                if i % 2 == 0 {
                    (0..rng.usize(1..6))
                        .map(|_| alphabet[rng.usize(..alphabet.len())])
                        .collect()
                } else {
                    let mut name = String::new();
                    for c in pat.chars() {
                        if matches!(c, '[' | ']' | '*') && rng.bool() {
                            continue;
                        }
                        if rng.u32(0..4) == 0 {
                            name.push(alphabet[rng.usize(..alphabet.len())]);
                        } else {
                            name.push(c);
                        }
                    }
                    name
                }
            })
            .filter(|n: &String| !n.is_empty())
            .collect();
        cases.push((pat, names));
    }
    let input = serde_json::to_vec(&cases).expect("json");
    for version in [PythonVersion::Py310, PythonVersion::Py313] {
        let stdout = oracle::run(version, SCRIPT, &input);
        let theirs: Vec<Vec<bool>> = serde_json::from_slice(&stdout).expect("json");
        let mut bad = Vec::new();
        let mut hits = 0;
        for ((pat, names), want) in cases.iter().zip(theirs) {
            let m = Matcher::new(pat);
            for (name, want) in names.iter().zip(want) {
                hits += usize::from(want);
                if m.matches_bytes(name.as_bytes()) != want {
                    bad.push(format!("{pat:?} {name:?}: python {want}"));
                }
            }
        }
        assert!(bad.is_empty(), "{version}: {}", bad.join("\n"));
        assert!(hits > 500, "too few matches ({hits}) to mean anything");
    }
}
