use super::*;
use crate::odoo::oracle;
use serde_json::{Value, json};

/// Python side: each text read as Odoo reads its file (text mode:
/// universal newlines); out: the error class and line numbers, or the
/// items of [options], or "nosection".
const PARSE_SCRIPT: &str = r#"
import configparser, io, json, sys
out = []
for text in json.load(sys.stdin):
    p = configparser.RawConfigParser()
    try:
        p.read_file(io.StringIO(text, newline=None))
    except configparser.MissingSectionHeaderError as e:
        out.append({'err': type(e).__name__, 'lines': [e.lineno]})
        continue
    except configparser.ParsingError as e:
        out.append({'err': 'ParsingError', 'lines': [l for l, _ in e.errors]})
        continue
    except configparser.Error as e:
        out.append({'err': type(e).__name__, 'lines': [e.lineno]})
        continue
    if not p.has_section('options'):
        out.append({'nosection': True})
    else:
        out.append({'items': p.items('options')})
json.dump(out, sys.stdout)
"#;

fn ours(text: &str) -> Value {
    match parse(text) {
        Err(e) => {
            let lines = match &e.kind {
                ConfParseErrorKind::Parsing { lines } => lines.clone(),
                _ => vec![e.line],
            };
            json!({ "err": e.python_exception(), "lines": lines })
        }
        Ok(conf) if !conf.has_options_section() => json!({ "nosection": true }),
        Ok(conf) => {
            let items: Vec<(String, String)> = conf
                .options()
                .iter()
                .map(|o| (o.name.clone(), o.value.clone()))
                .collect();
            json!({ "items": items })
        }
    }
}

fn compare(version: PythonVersion, texts: &[String]) {
    let input = serde_json::to_vec(texts).expect("json");
    let stdout = oracle::run(version, PARSE_SCRIPT, &input);
    let theirs: Vec<Value> = serde_json::from_slice(&stdout).expect("python json");
    assert_eq!(theirs.len(), texts.len());
    let bad: Vec<String> = texts
        .iter()
        .zip(&theirs)
        .filter_map(|(text, want)| {
            let got = ours(text);
            (got != *want).then(|| format!("{text:?}\n  python {want}\n  ours   {got}"))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{version}: {} mismatches\n{}",
        bad.len(),
        bad.join("\n")
    );
    // The batch must reach every outcome.
    for key in ["items", "nosection"] {
        assert!(theirs.iter().any(|v| v.get(key).is_some()), "no {key} case");
    }
    for class in [
        "ParsingError",
        "DuplicateOptionError",
        "DuplicateSectionError",
        "MissingSectionHeaderError",
    ] {
        assert!(
            theirs.iter().any(|v| v["err"] == class),
            "no {class} case in the batch"
        );
    }
}

const LINES: [&str; 40] = [
    "[options]",
    "[options]",
    "[options]",
    "[DEFAULT]",
    "[other]",
    "  [options]",
    "[options] trailing",
    "[opt]ions]",
    "[]",
    "key = value",
    "Key: value",
    "KEY=v",
    "db_name = prod",
    "addons_path = /a, /b ,",
    "data_dir : /x",
    "dbfilter = ^%d$",
    "  continued",
    "\tcontinued tab",
    "    deeper: x = y",
    "# comment",
    "; comment",
    "   # indented comment",
    "",
    "   ",
    "no delimiter",
    "= novalue",
    "a = 50% off",
    "É = ü ümlaut",
    "x = a # not a comment",
    "x=",
    "x : = y",
    "  key = indented",
    "other_key = 1",
    "Other_Key = 2",
    "\u{a0}nbsp = 1",
    "k\u{1c} = sep",
    "ünï = côdé",
    "True = False",
    "db_name = None",
    "\u{feff}[options]",
];

fn random_text(rng: &mut fastrand::Rng) -> String {
    let mut lines: Vec<&str> = Vec::new();
    if rng.u32(0..5) != 0 {
        lines.push(["[options]", "[DEFAULT]"][rng.usize(..2)]);
    }
    for _ in 0..rng.usize(1..12) {
        lines.push(LINES[rng.usize(..LINES.len())]);
    }
    let sep = ["\n", "\n", "\n", "\r\n", "\r"][rng.usize(..5)];
    let mut text = lines.join(sep);
    if rng.bool() {
        text.push_str(sep);
    }
    text
}

#[test]
fn random_texts_read_like_raw_config_parser() {
    let mut rng = fastrand::Rng::with_seed(11);
    let texts: Vec<String> = (0..600).map(|_| random_text(&mut rng)).collect();
    compare(PythonVersion::Py311, &texts);
    compare(PythonVersion::Py310, &texts[..200]);
    compare(PythonVersion::Py313, &texts[..200]);
}

#[test]
fn odoo_settings_and_errors_name_the_line() {
    let text = "; Odoo\n[DEFAULT]\nData_Dir = /srv/data\n[options]\n\
                addons_path = /opt/odoo/addons,\n  /srv/custom ,\n\n\
                db_name = None\ndbfilter = ^%d$\npublisher_warranty_url =\n";
    let conf = parse(text).expect("parses");
    assert_eq!(conf.data_dir(), Some("/srv/data"));
    assert_eq!(
        conf.addons_path(),
        Some(vec![
            "/opt/odoo/addons".to_owned(),
            "\n/srv/custom ".to_owned(),
            String::new()
        ])
    );
    assert_eq!(conf.db_name(), None);
    assert_eq!(conf.get("db_name"), Some("None"));
    assert_eq!(conf.dbfilter(), Some("^%d$"));
    assert_eq!(conf.publisher_warranty_url(), None);
    assert_eq!(conf.options()[0].line, 3);
    assert!(conf.options()[0].from_default);

    let err = parse("[options]\na = 1\nA = 2\n").expect_err("duplicate");
    assert_eq!(err.line, 3);
    assert!(err.to_string().contains("'a' is set twice in [options]"));
    let err = parse("a = 1\n[options]\n").expect_err("no header");
    assert_eq!(err.kind, ConfParseErrorKind::MissingSectionHeader);
    let err = parse("[options]\nbroken\nx = 1\nalso broken\n").expect_err("parsing");
    assert_eq!(err.kind, ConfParseErrorKind::Parsing { lines: vec![2, 4] });
    assert!(parse("[other]\nx = 1\n").expect("ok").options().is_empty());
}

#[test]
fn read_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("odoo.conf");
    let err = read(&path).expect_err("missing");
    assert!(err.to_string().contains("odoo.conf"), "{err}");
    std::fs::write(&path, "[options]\r\ndb_name = x\r\n").expect("write");
    assert_eq!(read(&path).expect("reads").get("DB_NAME"), Some("x"));
    std::fs::write(&path, b"[options]\nx = \xff\n").expect("write");
    assert!(matches!(read(&path), Err(ConfError::NotUtf8 { .. })));
}

/// Python side of the path checks: `[[op, arg, env], ...]` where env is
/// the environment to use; cwd and HOME set by the test.
const PATH_SCRIPT: &str = r#"
import json, os, sys
out = []
cases, home, cwd = json.load(sys.stdin)
os.chdir(cwd)
for op, arg, env in cases:
    os.environ.clear(); os.environ.update(env)
    if op == 'expandvars': out.append(os.path.expandvars(arg))
    elif op == 'expanduser': out.append(os.path.expanduser(arg))
    elif op == 'abspath': out.append(os.path.abspath(arg))
    elif op == 'realpath': out.append(os.path.realpath(arg))
    else:
        x = arg
        out.append('' if not x else os.path.normcase(os.path.realpath(os.path.abspath(
            os.path.expanduser(os.path.expandvars(x.strip()))))))
json.dump(out, sys.stdout)
"#;

fn path_tree(root: &Path) {
    use std::os::unix::fs::symlink;
    for d in ["a/b", "c", "addons/x"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    symlink("a/b", root.join("lb")).expect("symlink");
    symlink(root.join("c"), root.join("abs_c")).expect("symlink");
    symlink("../lb", root.join("c/up")).expect("symlink");
    symlink("loop", root.join("loop")).expect("symlink");
    symlink("l2", root.join("l1")).expect("symlink");
    symlink("l1", root.join("l2")).expect("symlink");
    symlink("missing/x", root.join("dangling")).expect("symlink");
    symlink("addons", root.join("lnk_addons")).expect("symlink");
}

#[test]
fn path_normalisation_matches_os_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    path_tree(&root);
    let r = root.to_str().expect("utf-8").to_owned();
    let pieces = [
        "a",
        "b",
        "c",
        "lb",
        "abs_c",
        "up",
        "loop",
        "l1",
        "dangling",
        "..",
        ".",
        "",
        "x",
        "lnk_addons",
        "addons",
    ];
    let mut rng = fastrand::Rng::with_seed(3);
    let mut cases: Vec<(String, String, serde_json::Map<String, Value>)> = Vec::new();
    let mut env = serde_json::Map::new();
    env.insert("HOME".into(), json!(format!("{r}/a/")));
    env.insert("ROOT".into(), json!(r));
    env.insert("X_1".into(), json!("c/$ROOT"));
    for _ in 0..300 {
        let n = rng.usize(1..6);
        let mut p: Vec<&str> = (0..n).map(|_| pieces[rng.usize(..pieces.len())]).collect();
        let prefix = [
            "$ROOT/",
            "${ROOT}/",
            "~/",
            "~",
            "",
            "/",
            "//",
            "$NOPE/",
            "${X_1}/",
            "$ROOT//./",
        ][rng.usize(..10)];
        if rng.u32(0..4) == 0 {
            p.insert(0, "c");
        }
        let arg = format!(
            "{}{prefix}{}{}",
            if rng.u32(0..5) == 0 { "  " } else { "" },
            p.join("/"),
            if rng.bool() { "/" } else { "" }
        );
        let op = [
            "expandvars",
            "expanduser",
            "abspath",
            "realpath",
            "normalize",
        ][rng.usize(..5)];
        let arg = if op == "realpath" || op == "abspath" {
            format!("{r}/{}", p.join("/"))
        } else {
            arg
        };
        cases.push((op.to_owned(), arg, env.clone()));
    }
    let cwd = format!("{r}/c");
    let input = serde_json::to_vec(&json!([cases, format!("{r}/a/"), cwd])).expect("json");
    let no_users = |_: &str| None;
    for version in PythonVersion::ALL {
        let stdout = oracle::run(version, PATH_SCRIPT, &input);
        let theirs: Vec<String> = serde_json::from_slice(&stdout).expect("json");
        let mut bad = Vec::new();
        for ((op, arg, env), want) in cases.iter().zip(&theirs) {
            let lookup = |k: &str| env.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            let process = OdooProcess {
                env: &lookup,
                home: Path::new("/nonexistent"),
                user_home: &no_users,
                cwd: Path::new(&cwd),
            };
            let got = match op.as_str() {
                "expandvars" => expandvars(arg, &lookup),
                "expanduser" => expanduser(arg, &process),
                "abspath" => abspath(arg, Path::new(&cwd)),
                "realpath" => realpath(arg, version),
                _ => normalize_path(arg, &process, version),
            };
            if got != *want {
                bad.push(format!("{op}({arg:?}): python {want:?} ours {got:?}"));
            }
        }
        assert!(bad.is_empty(), "{version}: {}", bad.join("\n"));
    }
    // Symlink loops with components after them separate 3.13 from 3.12.
    let loop_path = format!("{r}/loop/../lb");
    assert_eq!(
        realpath(&loop_path, PythonVersion::Py312),
        format!("{r}/lb")
    );
    assert_eq!(
        realpath(&loop_path, PythonVersion::Py313),
        format!("{r}/a/b")
    );
}

#[test]
fn addons_path_normalised_as_odoo_18_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    path_tree(&root);
    let r = root.to_str().expect("utf-8");
    let text = format!("[options]\naddons_path = $R/lnk_addons , ~/x,,{r}/c/../addons/\n");
    let conf = parse(&text).expect("parses");
    let env = |k: &str| (k == "R").then(|| r.to_owned());
    let users = |_: &str| None;
    let process = OdooProcess {
        env: &env,
        home: &root.join("a"),
        user_home: &users,
        cwd: &root,
    };
    assert_eq!(
        conf.normalized_addons_path(&process, PythonVersion::Py311),
        Some(vec![
            format!("{r}/addons"),
            format!("{r}/a/x"),
            format!("{r}/addons")
        ])
    );
}
