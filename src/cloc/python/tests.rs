//! Cross-checks with CPython (the oracle): hand-written snippets, generated
//! sources, CPython's own standard library and the fixture addons, under
//! each of the four interpreters.

mod generator;

use super::count_python;
use crate::cloc::{FileError, Lines, PythonVersion, decode_latin1, oracle};

/// Odoo's `parse_py`, applied to a JSON list of texts.
const ORACLE: &str = r#"
import ast, json, sys, warnings
warnings.simplefilter("ignore")
def parse_py(s):
    try:
        s = s.strip() + "\n"
        total = s.count("\n")
        code = len({n.lineno for n in ast.walk(ast.parse(s)) if hasattr(n, "lineno")})
        return [code, total]
    except Exception:
        return "error"
sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
out = [parse_py(s) for s in json.loads(sys.stdin.buffer.read())]
sys.stdout.write(json.dumps(out))
"#;

/// What the oracle says, in this module's terms.
fn oracle_counts(version: PythonVersion, texts: &[String]) -> Vec<Result<Lines, FileError>> {
    let input = serde_json::to_vec(texts).expect("json");
    let output = oracle::run(version, ORACLE, &input);
    let values: Vec<serde_json::Value> = serde_json::from_slice(&output).expect("oracle json");
    assert_eq!(values.len(), texts.len(), "oracle answered every text");
    values
        .iter()
        .map(|v| match v.as_array() {
            Some(pair) => Ok(Lines {
                code: pair[0].as_u64().expect("code"),
                total: pair[1].as_u64().expect("total"),
            }),
            None => Err(FileError::SyntaxError),
        })
        .collect()
}

/// Compares this module with the oracle on every text, for every version;
/// panics listing the differences (at most 20 shown).
fn assert_agrees(label: &str, texts: &[String]) {
    let mut failures = Vec::new();
    let mut total = 0;
    for version in PythonVersion::ALL {
        let expected = oracle_counts(version, texts);
        for (text, want) in texts.iter().zip(expected) {
            let got = count_python(text, version);
            if got != want {
                total += 1;
                if failures.len() < 20 {
                    failures.push(format!(
                        "{version}: {text:?}\n    oracle {want:?}\n    ours   {got:?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: {total} differences with CPython, first ones:\n{}",
        failures.join("\n")
    );
}

fn strings(cases: &[&str]) -> Vec<String> {
    cases.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn hand_written_snippets_count_as_cpython() {
    assert_agrees("snippets", &strings(SNIPPETS));
}

#[test]
fn syntax_new_in_a_version_is_an_error_before_it() {
    let cases = [
        (
            "try:\n    pass\nexcept* E:\n    pass\n",
            PythonVersion::Py311,
        ),
        ("type X = int\n", PythonVersion::Py312),
        ("def f[T](x: T): pass\n", PythonVersion::Py312),
        ("f'{'a'}'\n", PythonVersion::Py312),
    ];
    for (text, first) in cases {
        for version in PythonVersion::ALL {
            let result = count_python(text, version);
            assert_eq!(result.is_ok(), version >= first, "{text:?} on {version}");
        }
    }
    assert_agrees("new syntax", &cases.map(|(t, _)| t.to_string()));
}

#[test]
fn pieces_of_fstrings_have_positions_from_312() {
    let text = "x = f\"\"\"{\n    a}\"\"\"\n";
    assert_eq!(
        count_python(text, PythonVersion::Py311),
        Ok(Lines { code: 2, total: 2 })
    );
    assert_eq!(
        count_python(text, PythonVersion::Py312),
        Ok(Lines { code: 2, total: 2 })
    );
    let text = "x = (\n    f\"{a}\"\n    \" - \"\n    f\"{b}\"\n)\n";
    assert_eq!(
        count_python(text, PythonVersion::Py311),
        Ok(Lines { code: 3, total: 5 })
    );
    assert_eq!(
        count_python(text, PythonVersion::Py313),
        Ok(Lines { code: 4, total: 5 })
    );
}

#[test]
fn generated_sources_count_as_cpython() {
    let texts = generator::sources(0x0d00_c10c, 3000);
    for version in PythonVersion::ALL {
        let valid = texts
            .iter()
            .filter(|t| count_python(t, version).is_ok())
            .count();
        assert!(
            valid > 1500,
            "{version}: only {valid} generated sources are valid"
        );
    }
    assert_agrees("generated", &texts);
}

/// `*.py` under `dir` (not recursive), sorted, read as Odoo reads them.
fn python_files(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    // A directory missing from one Python version's library reads as empty
    // (callers check how many files they got).
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "py") && p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p, decode_latin1(&bytes))
        })
        .collect()
}

#[test]
fn cpython_stdlib_counts_as_cpython() {
    let home = std::env::var_os("HOME").expect("HOME");
    let lib = std::path::Path::new(&home).join(".pyenv/versions/3.11.7/lib/python3.11");
    let mut texts = Vec::new();
    for sub in [
        "",
        "json",
        "email",
        "asyncio",
        "unittest",
        "importlib",
        "xml/dom",
        "http",
        "logging",
        "concurrent/futures",
        "collections",
        "sqlite3",
        "urllib",
        "lib2to3/tests/data",
        "idlelib",
        "multiprocessing",
        "ctypes",
        "tkinter",
        "xml/etree",
        "email/mime",
        "wsgiref",
        "dbm",
    ] {
        texts.extend(python_files(&lib.join(sub)).into_iter().map(|(_, t)| t));
    }
    assert!(texts.len() > 300, "only {} stdlib files", texts.len());
    assert_agrees("stdlib", &texts);
}

/// CPython's own tests of its grammar (3.12's and 3.13's: f-strings of
/// PEP 701, type parameters, `except*`, patterns, deliberately bad syntax),
/// which are errors or not depending on the version.
#[test]
fn cpython_grammar_tests_count_as_cpython() {
    let home = std::env::var_os("HOME").expect("HOME");
    let mut texts = Vec::new();
    for lib in ["3.12.1/lib/python3.12/test", "3.13.0/lib/python3.13/test"] {
        let dir = std::path::Path::new(&home)
            .join(".pyenv/versions")
            .join(lib);
        for (path, text) in python_files(&dir) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let wanted = name.starts_with("badsyntax_")
                || [
                    "test_fstring.py",
                    "test_type_params.py",
                    "test_type_aliases.py",
                    "test_patma.py",
                    "test_grammar.py",
                    "test_except_star.py",
                    "test_syntax.py",
                    "test_unparse.py",
                    "test_string_literals.py",
                    "test_positional_only_arg.py",
                    "test_named_expressions.py",
                    "test_keywordonlyarg.py",
                    "test_genexps.py",
                    "test_coroutines.py",
                    "test_decorators.py",
                    "test_exceptions.py",
                    "test_tokenize.py",
                    "test_eof.py",
                    "test_utf8source.py",
                ]
                .contains(&name);
            if wanted {
                texts.push(text);
            }
        }
    }
    assert!(texts.len() > 30, "only {} grammar test files", texts.len());
    assert_agrees("CPython grammar tests", &texts);
}

fn fixture_addons() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/odoo-enterprise/addons")
}

/// Every `*.py` under `dir`, recursively.
fn python_files_deep(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, String)>) {
    out.extend(python_files(dir));
    let mut dirs: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    dirs.sort();
    for sub in dirs {
        python_files_deep(&sub, out);
    }
}

#[test]
fn fixture_addons_count_as_cpython_and_as_recorded() {
    let root = fixture_addons();
    let mut files = Vec::new();
    python_files_deep(&root, &mut files);
    assert!(files.len() > 10, "fixture addons found: {}", files.len());
    let texts: Vec<String> = files.iter().map(|(_, t)| t.clone()).collect();
    assert_agrees("fixture addons", &texts);

    let read = |rel: &str| decode_latin1(&std::fs::read(root.join(rel)).expect("fixture"));
    let checkin = read("acme_fleet_checkin/models/checkin.py");
    for version in PythonVersion::ALL {
        let code = if version >= PythonVersion::Py312 {
            68
        } else {
            67
        };
        assert_eq!(
            count_python(&checkin, version),
            Ok(Lines { code, total: 96 })
        );
        for broken in [
            "acme_broken_tools/scripts/broken.py",
            "acme_broken_tools/scripts/bom_header.py",
        ] {
            assert_eq!(
                count_python(&read(broken), version),
                Err(FileError::SyntaxError)
            );
        }
    }
}

/// Hand-written snippets, each a known difference between a naive count
/// (every line of a node's range, or Ruff's ranges as they are) and CPython.
const SNIPPETS: &[&str] = &[
    "",
    "   \n\n  ",
    "x = 1",
    "# only a comment\n",
    "@dec\ndef f():\n    pass\n",
    "@dec\n\n# c\n@dec2(\n  1)\nasync def f():\n    pass\n",
    "@dec\nclass C(\n  B,\n  metaclass=M):\n    x = 1\n",
    "@(dec)\ndef f(): pass\n",
    "@dec\nasync \\\n def f(): pass\n",
    "'''doc\nstring\n'''\nx = 1\n",
    "x = ('a'\n     'b'\n     'c')\n",
    "x = 'a' \\\n    'b'\n",
    "x = f'{a}' \\\n    f'{b}'\n",
    "x = 1\ry = 2\rz = 3\n",
    "x = 1\r\ny = 2\r\n",
    "x = (1,\r 2)\n",
    "\x0cx = 1\n\x0c\ny = 2\n",
    "if x:\n\x0c    y = 1\n",
    "x = 1 + \\\n    2\n",
    "def f():\n    global a, \\\n        b\n    nonlocal c\n",
    "from x import (a,\n    b as c,\n    d)\n",
    "import a.b.c as d, \\\n    e\n",
    "from . import (\n    x)\n",
    "f(\n  a=1,\n  *b,\n  **c)\n",
    "def f(a,\n      *args,\n      b=1,\n      **kwargs):\n    pass\n",
    "def f(\n    a: int = 1,\n    /,\n    b: str = '',\n    *,\n    c,\n) -> None:\n    pass\n",
    "f = lambda a,\\\n    b=1, *c, **d: (\n    a)\n",
    "match x:\n    case [1,\n          2, *rest]:\n        pass\n    case {'a': 1,\n          **kw}:\n        pass\n    case Point(x=0,\n               y=1):\n        pass\n    case (1\n          | 2):\n        pass\n    case None:\n        pass\n    case _:\n        pass\n",
    "match (x,\n       y):\n    case str() as s if s:\n        pass\n",
    "try:\n    pass\nexcept (A,\n        B) as e:\n    pass\nelse:\n    pass\nfinally:\n    pass\n",
    "if a:\n    pass\nelif b:\n    pass\nelse:\n    pass\n",
    "for x in y:\n    pass\nelse:\n    pass\nwhile x:\n    pass\nelse:\n    pass\n",
    "d = {\n    'a':\n        1,\n    **e,\n}\n",
    "x = a[1:\n      2, ::\n      3]\n",
    "x = a[\n    :2]\n",
    "x = [*a,\n     *b]\n",
    "async def f():\n    await (\n        g())\n    async for x in y:\n        pass\n    async with a as b:\n        pass\n",
    "def g():\n    yield (\n        1)\n    yield from \\\n        h()\n",
    "x = (a\n     if b\n     else c)\n",
    "x = [a\n     for b in c\n     if d\n     for e in f]\n",
    "x = {a: b\n     for a, b in c}\n",
    "x = (a for a in\n     b)\n",
    "f(a\n  for a in b)\n",
    "x = ...\n",
    "x = [  # type: ignore\n    1]\n",
    "def f(a, b):\n    # type: (int, int) -> None\n    pass\n",
    "with (\n    a as b,\n    c as d,\n):\n    pass\n",
    "with a as (b,\n           c):\n    pass\n",
    "x = (\n    a)\n",
    "(\n    a) + b\n",
    "x = (a,\n     b)\n",
    "x = a, \\\n    b\n",
    "x = not \\\n    a\n",
    "x = a.\\\n    b\n",
    "x = (a\n     .b\n     .c())\n",
    "x: int = (\n    1)\n",
    "(x): int\n",
    "x += (\n    1)\n",
    "del (a,\n     b)\n",
    "assert a, (\n    b)\n",
    "raise A from (\n    B)\n",
    "return\n",
    "break\n",
    "yield x\n",
    "await x\n",
    "nonlocal x\n",
    "x = (y := \n     1)\n",
    "x = a < (\n    b) < c\n",
    "x = a and (\n    b) or c\n",
    "x = b'a' \\\n    b'b'\n",
    "x = f'''\n{a}\n'''\n",
    "x = f'''{\na}'''\n",
    "x = f'''{a\n}'''\n",
    "x = f'''{\n  a:>{\n  b}}'''\n",
    "x = f'''{a!r:\n>10}'''\n",
    "x = f'''{a=}\n{b=!r:>10}'''\n",
    "x = (f'{a}'\n     ' - '\n     f'{b}')\n",
    "x = (f'{a}'\n     ''\n     ' - '\n     f'{b}')\n",
    "x = ('a'\n     f'{b}'\n     'c')\n",
    "x = f'{{a}}'\n",
    "x = f'''{{\n}}{a}'''\n",
    "x = f'{f\"{a}\"}'\n",
    "x = rf'''\\{a}\n'''\n",
    "x = f'{a}' f'{b}' f''\n",
    "x = f''\n",
    "x = f'''\n\n'''\n",
    "x = 1_000_000\n",
    "x = 0xFF + 0o7 + 0b1 + 1e10 + 1j\n",
    "class C[T](B): pass\n",
    "def f[T: int, *Ts, **P](\n    x: T) -> T: pass\n",
    "type X[\n    T] = (\n    list[T])\n",
    "try:\n    pass\nexcept* (\n    E):\n    pass\n",
    "x = f'{a!r}'\n",
    "x = 'é'\ny = 'ÿ'\n",
    "é = 1\n",
    "x = 1\u{a0}\n",
    "x = 1\u{85}\n",
    "x = '\x00'\n",
    "x = \x0b1\n",
    "x = 1 \x0c+ 2\n",
    "ï»¿x = 1\n",
    "# coding: latin-1\nx = 'é'\n",
    "x = '\\N{DASH}'\n",
    "x = '\\N{EM DASH}'\n",
    "x = b'é'\n",
    "x = '\\777'\n",
    "x = 'a\rb'\n",
    "# comment\ry = 2\n",
    "x = '''a\rb'''\n",
    "if x:\n  y = 1\n    z = 2\n",
    "if x:\n\ty = 1\n        z = 2\n",
    "x = (\n",
    "x = )\n",
    "def f(a, a): pass\n",
    "f(**a, *b)\n",
    "f(a=1, b)\n",
    "1 = x\n",
    "del f()\n",
    "x = [i for i in *a]\n",
    "print 'hello'\n",
    "exec 'x'\n",
    "x = `a`\n",
    "x = 0777\n",
    "x = 1L\n",
    "x <> y\n",
    "def f():\n    return\n    x\n",
    "class C:\n    def f(self): pass\n\n    @property\n    def g(self):\n        return 1\n",
    "lambda: (yield)\n",
    "x = [\n    1,\n    2,\n]\n",
    "x = {\n}\n",
    "x = (\n)\n",
    "if True:\n    pass\n  # dedented comment\n",
    "x = 1;y = 2;\n",
    "x = 1; \\\ny = 2\n",
    "f(x)(\n  y)[\n  z]\n",
    "a = b = (\n    c)\n",
    "for (a,\n     b) in c: pass\n",
    "x = a if b else (\n    c)\n",
    "print(*a,\n      sep='')\n",
    "x = -(\n    1)\n",
    "x = (-\n     1)\n",
    "x = a @ b\n",
    "x = a[b,\n      c]\n",
    "x = {*a,\n     b}\n",
    "match x:\n    case -1 | 1.5 | 2j | 1 + 2j:\n        pass\n    case a.b.c:\n        pass\n    case [*_]:\n        pass\n    case {**rest}:\n        pass\n",
    "match = 1\ncase = 2\n_ = match\n",
    "x = f'{a:{b}{c}}'\n",
    "x = f'{\"a\" if b else \"c\"}'\n",
    "x = f'{a!r:>{width}.{precision}}'\n",
    "x = f'{a\n}'\n",
    "x = f'''{a # comment\n}'''\n",
    "x = f'{a:\\n}'\n",
    "x = f'{\"\\n\".join(a)}'\n",
    "x = f'{a}\\\n'\n",
    "x = 'a\\\nb'\n",
    "x = f'a\\\n{b}'\n",
    "x = (f'''a\n{b}''' 'c'\n     f'd{e}')\n",
    "x = [*a < b]\n",
    "x = [*(a) < b]\n",
    "x = [*(a < b), *(not a), *a.b, *a + b]\n",
    "x = {*a or b}\n",
    "x = {**a if b else c}\n",
    "x = {**(a if b else c)}\n",
    "x = *a < b,\n",
    "f(*a < b, **c or d)\n",
    "x = [*lambda: a]\n",
    "f'{*a}'\n",
    "f'{*a, b}'\n",
    "f'{yield}'\n",
    "f(yield)\n",
    "x = yield\n",
    "x += yield\n",
    "x: int = yield\n",
    "f((yield))\n",
    "[(yield)]\n",
    "x = (yield) + 1\n",
    "if x: yield\n",
    "x = 1; yield\n",
    "x = a, yield\n",
    "yield x, y\n",
    "await x @ y\n",
    "f'{yield x}'\n",
    "x = [yield]\n",
    "a[yield]\n",
    "a[(yield)]\n",
    "yield @abstractmethod\n",
    "yield from a @ b\n",
    "x = yield from a\n",
    "f(a)((yield))\n",
    "x = a = yield b\n",
    "return (yield)\n",
    "return yield\n",
    "x = '€'\n",
    "€ = 1\n",
    "ℌ = 1\nH = 2\n",
    "x = 1\u{2028}y = 2\n",
    "x = 1\u{3000}\n",
    "x = '''a\u{2028}b'''\ny = 1\n",
    "# \u{2028}\nx = 1\n",
    "\u{feff}x = 1\n",
    "x = 'a\u{85}b'\n",
    "if x:\n\tif y:\n        pass\n",
    "if x:\n        y = 1\n\tz = 2\n",
    "if x:\n    \ty = 1\n",
    "if x:\n \ty = 1\n\t z = 2\n",
    "x = 1 \\\n",
    "x = 1 \\",
    "\\\nx = 1\n",
    "if x:\n    pass\n\\\n",
    "x = (1 \\\n  + 2)\n",
    "x = '''\n",
    "x = 'abc\n",
    "x = f'{a'\n",
    "x = f'{a!x}'\n",
    "x = f'{a!r '\n",
    "x = f'{}'\n",
    "x = f'{ }'\n",
    "x = f'}'\n",
    "x = f'{a:{b}'\n",
    "x = f'{lambda x: 1}'\n",
    "x = f'{(lambda x: 1)}'\n",
    "x = f'{a:=1}'\n",
    "x = f'{(a:=1)}'\n",
    "x = f'{a!r=}'\n",
    "x = f'{a=!r}'\n",
    "x = f'{a = }'\n",
    "x = f'{\"a\"}'\n",
    "x = f\"{'a'}\"\n",
    "x = f'''{'''a'''}'''\n",
    "x = f'{a}' f\"{b}\" rf'{c}' fr'\\{d}' F'{e}'\n",
    "x = u'a' 'b'\n",
    "x = b'a' 'b'\n",
    "x = 'a' f'{b}' b'c'\n",
    "def f(*, a): pass\n",
    "def f(*): pass\n",
    "def f(a, /): pass\n",
    "def f(/, a): pass\n",
    "def f(**a, b): pass\n",
    "def f(a=1, b): pass\n",
    "lambda *: 1\n",
    "class C(x for x in y): pass\n",
    "f(x for x in y, 1)\n",
    "f(1, x for x in y)\n",
    "f(a=1, *b)\n",
    "f(**a, b=1)\n",
    "x = [i async for i in a]\n",
    "x = [await i for i in a]\n",
    "async def f():\n    x = [i async for i in a]\n",
    "with a as b, c as d: pass\n",
    "with (a, b): pass\n",
    "with (a, b) as c: pass\n",
    "with (yield): pass\n",
    "for x in *a, b: pass\n",
    "for *x in a: pass\n",
    "*a, b = c\n",
    "*a = c\n",
    "a, *b, *c = d\n",
    "del *a\n",
    "del (a, b), [c]\n",
    "(a) = 1\n",
    "(a, b) += 1\n",
    "a.b += 1\n",
    "f() = 1\n",
    "a + 1 = 2\n",
    "x = yield = 1\n",
    "None = 1\n",
    "__debug__ = 1\n",
    "def f(__debug__): pass\n",
    "x.__debug__ = 1\n",
    "True = 1\n",
    "f(True=1)\n",
    "f(a=1, a=2)\n",
    "import a as b.c\n",
    "from a import *\n",
    "from a import (*)\n",
    "from .. import a\n",
    "from ...a import b\n",
    "from a import b,\n",
    "from a import (b,)\n",
    "match x:\n    case a | b:\n        pass\n",
    "match x:\n    case 1 + 2:\n        pass\n",
    "match x:\n    case -1j:\n        pass\n",
    "match x:\n    case a.b(c):\n        pass\n",
    "match x:\n    case {1: _, **_}:\n        pass\n",
    "match x:\n    case [*a, *b]:\n        pass\n",
    "match x:\n    case f'{a}':\n        pass\n",
    "match x:\n    case 'a' 'b':\n        pass\n",
    "match x:\n    case (\n        1\n        as y\n    ):\n        pass\n",
    "match x,:\n    case _:\n        pass\n",
    "match *x, y:\n    case _:\n        pass\n",
    "match x:\ncase _:\n    pass\n",
    "match x:\n    case _:\n        pass\n    case 1:\n        pass\n",
    "match x:\n    case P(a=1, b):\n        pass\n",
    "try:\n    pass\n",
    "try:\n    pass\nexcept:\n    pass\nexcept E:\n    pass\n",
    "try:\n    pass\nexcept E, F:\n    pass\n",
    "try:\n    pass\nexcept* E:\n    pass\nexcept F:\n    pass\n",
    "try:\n    pass\nexcept*:\n    pass\n",
    "try:\n    pass\nfinally:\n    pass\nelse:\n    pass\n",
    "if x:\npass\n",
    "if x:\n    pass\n  else:\n    pass\n",
    "class C:\n    '''doc'''\n\n\n\n    x = 1\n",
    "@a.b.c\n@d(e)\n@f[g]\n@(h)\n@i if j else k\n@lambda f: f\n@x := y\ndef f(): pass\n",
    "@a\n",
    "@a\nx = 1\n",
    "print(f'{x!r:^{width}}', end='')\n",
    "x = 0_0\n",
    "x = 00\n",
    "x = 1__0\n",
    "x = 1_\n",
    "x = 0x_1\n",
    "x = 1e\n",
    "x = 1.e5 + .5 + 5. + 1_0.0_1e+1_0j\n",
    "x = 1if y else 2\n",
    "x = [0x1for x in y]\n",
    "x = 1or 2\n",
    "x = 0b12\n",
    "x = 0o8\n",
    "x = 09\n",
    "x = 1.__class__\n",
    "x = 1 .__class__\n",
    "a[*b]\n",
    "a[*b] = 1\n",
    "a[1, *b]\n",
    "def f(*args: *Ts): pass\n",
    "def f[T = int](): pass\n",
    "class C[*Ts = *tuple[int]]: pass\n",
    "type X[**P = [int]] = int\n",
    "x = t'{a}'\n",
    "x = [*a for a in b]\n",
    "x = {**a for a in b}\n",
    "for x in *a, *b: pass\n",
    "def f():\n    return *a, *b\n",
    "@x[0].y\ndef f(): pass\n",
    "with (a := b): pass\n",
    "with (open(a) as f, open(b) as g,): pass\n",
    "async def f():\n    async with (a as b, c as d):\n        pass\n",
    "x = (yield)\n",
    "def f[T](): pass\ntype A = int\n",
    "try:\n    pass\nexcept A, B:\n    pass\n",
    "try:\n    pass\nexcept (A, B):\n    pass\n",
    "x: int\n",
    "x: *a\n",
    "lambda x=(yield): x\n",
    "f(**{a: b for a, b in c})\n",
    "print(f'{a!r:{b}=}')\n",
    "print(f'{a:{b}!r}')\n",
    "x = f'{a:{b:{c}}}'\n",
    "x = f'{a:{f\"{b}\"}}'\n",
    "x = f'{a}' f'{b:{c}}'\n",
    "x = f'''{a:{\nb}}'''\n",
    "x = f'{a:}'\n",
    "x = f'{a!s:}'\n",
    "x = f'{a:{{}}}'\n",
    "x = f'{a:}}'\n",
    "x = f'{a:{{'\n",
    "x = f'{{}}{a}'\n",
    "x = f'{\"\\N{EM DASH}\"}'\n",
    "x = f'\\N{EM DASH}{a}'\n",
    "x = f'{a}\\N{EM DASH}'\n",
    "x = rf'\\N{EM DASH}{a}'\n",
    "x = f'\\{a}'\n",
    "x = f'{a}\\'\n",
    "x = f'{\\'a\\'}'\n",
    "x = f'{a # }'\n",
    "x = f'''{\na # c\n}'''\n",
    "x = f'''{a!r\n}'''\n",
    "x = f'''{a:\n}'''\n",
    "x = f'{a\\\n}'\n",
    "nonlocal x\n",
    "def f():\n    global x\n    x = 1\n",
    "print >> f, x\n",
    "[x for x in (y := z)]\n",
    "del (a := 1)\n",
    "(a := 1) = 2\n",
    "a.b := 1\n",
    "(a.b := 1)\n",
    "x = *a\n",
    "print(*)\n",
    "f(a for a in b for)\n",
    "x = a if b\n",
    "x = lambda: yield\n",
    "x = not\n",
    "x = a not b\n",
    "x = a is not not b\n",
    "x = a < > b\n",
    "x = [1, 2,, 3]\n",
    "x = {1: 2, 3}\n",
    "x = {1, 2: 3}\n",
    "x = {**a, b}\n",
    "x = {*a, b: c}\n",
    "def f(a, *, **k): pass\n",
    "def f(a=1, /, b): pass\n",
    "def f(a, *b, *c): pass\n",
    "def f(a, **b, **c): pass\n",
    "def f(*a=1): pass\n",
    "class C(a=1, b): pass\n",
    "f(a, *b, c, **d, e=1)\n",
    "f(a)=1\n",
    "for x in range(3), : pass\n",
    "for x, in y: pass\n",
    "for () in y: pass\n",
    "with a as (b, c): pass\n",
    "with a as b.c: pass\n",
    "with a as b[0]: pass\n",
    "with a as f(): pass\n",
    "import a.b.c\n",
    "import .a\n",
    "from a import b as c.d\n",
    "from __future__ import braces\n",
    "from __future__ import annotations\nx: int\n",
    "x = 1\nfrom __future__ import annotations\n",
    "assert(a, b)\n",
    "raise from e\n",
    "raise a, b\n",
    "return a from b\n",
    "if x: pass\nelif: pass\n",
    "while x: pass\nelse: pass\nelse: pass\n",
    "x = a[]\n",
    "x = a[1:2:3:4]\n",
    "x = a[::]\n",
    "x = a[:, :]\n",
    "x = ((a) for b in c)\n",
    "x = (a for b in c) if d else e\n",
    "x = a for b in c\n",
    "x = [a, b for b in c]\n",
    "x = {a: b for c in d if e if f}\n",
    "x = [a for b in c if d else e]\n",
    "x = [a for b in c if (d if e else f)]\n",
    "x = [a for b in lambda: c]\n",
    "x = [a for b in c if lambda: d]\n",
    "x = a.1\n",
    "x = a.(b)\n",
    "x = ...a\n",
    "x = ....a\n",
    "x = .. .\n",
    "x = a @= b\n",
    "a @= b\n",
    "a, b += 1\n",
    "a: int, b: int = 1, 2\n",
    "a: int = b: int = 1\n",
    "(a, b): int\n",
    "[a]: int\n",
    "a.b: int\n",
    "a[0]: int = 1\n",
    "lambda: (yield from a)\n",
    "def f(): x = yield from\n",
    "async def f():\n    yield from a\n",
    "async def f():\n    await\n",
    "await = 1\n",
    "async = 1\n",
    "match = case = type = _ = 1\n",
    "print(match, case, type)\n",
    "x = a if b else c if d else e\n",
    "x = a or b and not c\n",
    "x = -a ** -b\n",
    "x = a ** -b ** c\n",
    "x = not a == b\n",
    "x = a == not b\n",
    "x = a + not b\n",
    "x = await a ** b\n",
    "x = -await a\n",
    "x = a[b:=1]\n",
    "x = a[(b:=1)]\n",
    "x = a[b:=1, c]\n",
    "x = {a := 1}\n",
    "x = {a := 1: 2}\n",
    "f(a := 1)\n",
    "f(a := 1, b=2)\n",
    "f(a=b := 1)\n",
    "def f(a=b := 1): pass\n",
    "def f(a=(b := 1)): pass\n",
    "x = (a := b := 1)\n",
    "x = [a := 1, b := 2]\n",
    "a := 1\n",
    "x = 'a' 'b' b'c'\n",
    "x = f'a' b'c'\n",
    "ﬁ = 1\n",
    "x = '😀'\ny = 1\n",
    "变量 = 1\n",
    "x\u{301} = 1\n",
    "℘ = 1\n",
    "·x = 1\n",
    "x· = 1\n",
    "x = 1 # 😀\n",
    "😀 = 1\n",
    "x = f'{😀}'\n",
    "x = f'😀{a}😀'\n",
    "x = f'''😀\n{a}'''\n",
    "x = (f'{a}'\n     '😀'\n     f'{b}')\n",
    "ª = 1\n",
    "º = 1\n",
    "µ = 1\n",
    "ÿ = 1\n",
    "× = 1\n",
    "x = 1 × 2\n",
    "¬x\n",
    "x = '\u{0}'\n",
    "x = 1\u{b}\n",
    "x = 1\u{c}+ 2\n",
    "\u{c}\u{c}x = 1\n",
    "if x:\n    \u{c}y = 1\n",
    "if x:\n\u{c}    y = 1\n  \u{c}z = 2\n",
    "x = (\r1,\r2)\r",
    "x = f'''{\ra}'''\n",
    "x = '''\r\r\r'''\ny = 1\n",
    "x = 1\r\r\ny = 2\n",
    "x = 1\n\r\ny = 2\r\n\r\n",
];

/// A large file (10,000 lines of stdlib code, 2,000 concatenated f-strings)
/// counts to the oracle's figures; its speed is measured by `cargo bench
/// --bench cloc`, not asserted here.
#[test]
fn a_large_file_counts_as_cpython() {
    let home = std::env::var_os("HOME").expect("HOME");
    let lib = std::path::Path::new(&home).join(".pyenv/versions/3.11.7/lib/python3.11");
    let one = decode_latin1(&std::fs::read(lib.join("textwrap.py")).expect("textwrap.py"));
    let lines = one.lines().count();
    let big = one.repeat(10_000 / lines + 1);
    let fstrings = "x = f'''{a}\n{b:>{c}}\n''' f'{d}' 'e'\n".repeat(2_000);
    let texts = [big, fstrings];
    let expected = oracle_counts(PythonVersion::Py312, &texts);
    for (text, want) in texts.iter().zip(expected) {
        let counted = count_python(text, PythonVersion::Py312);
        assert!(counted.is_ok_and(|c| c.total >= 4_000));
        assert_eq!(counted, want);
    }
}

/// Snippets of the standard library with a few random edits: mostly
/// broken code, where CPython and this module must agree that it is broken
/// (or count it alike when an edit keeps it valid).
fn mutated_stdlib(seed: u64, count: usize) -> Vec<String> {
    let home = std::env::var_os("HOME").expect("HOME");
    let lib = std::path::Path::new(&home).join(".pyenv/versions/3.11.7/lib/python3.11");
    let files: Vec<String> = python_files(&lib).into_iter().map(|(_, t)| t).collect();
    let mut rng = fastrand::Rng::with_seed(seed);
    const INSERTS: &[&str] = &[
        "(", ")", "[", "]", "{", "}", ":", ",", ".", "'", "\"", "\\", "#", "\n", " ", "=", "*",
        "**", "@", "f'", "\t", "\r", "'''", "lambda", "if ", "else", "for ", "not ", "async ",
        "await ", "yield ", "*a", ":=", "->", "$", "\u{a0}", "\x0c", "\0", "é",
    ];
    (0..count)
        .map(|_| {
            let file = &files[rng.usize(..files.len())];
            let lines: Vec<&str> = file.split_inclusive('\n').collect();
            let from = rng.usize(..lines.len());
            let to = (from + rng.usize(1..20)).min(lines.len());
            let mut text = dedent(&lines[from..to]);
            for _ in 0..rng.usize(0..3) {
                let chars: Vec<(usize, char)> = text.char_indices().collect();
                if chars.is_empty() {
                    break;
                }
                let (at, c) = chars[rng.usize(..chars.len())];
                match rng.u8(0..3) {
                    0 => {
                        text.replace_range(at..at + c.len_utf8(), "");
                    }
                    _ => text.insert_str(at, INSERTS[rng.usize(..INSERTS.len())]),
                }
            }
            text
        })
        .collect()
}

/// The lines up to the first one indented less than the first, with the
/// first one's indentation removed.
fn dedent(lines: &[&str]) -> String {
    let first = lines[0];
    let pad = &first[..first.len() - first.trim_start_matches([' ', '\t']).len()];
    let mut out = String::new();
    for line in lines {
        match line.strip_prefix(pad) {
            Some(rest) => out.push_str(rest),
            None if line.trim().is_empty() => out.push_str(line.trim_start_matches([' ', '\t'])),
            None => break,
        }
    }
    out
}

#[test]
fn edited_stdlib_snippets_count_as_cpython() {
    let texts = mutated_stdlib(
        std::env::var("MUT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed),
        3000,
    );
    let valid = texts
        .iter()
        .filter(|t| count_python(t, PythonVersion::Py311).is_ok())
        .count();
    assert!(
        valid > 1000,
        "only {valid} of the edited snippets are valid"
    );
    assert_agrees("edited stdlib", &texts);
}

/// Absurdly deep expressions must not crash the counter (CPython itself
/// raises RecursionError or MemoryError on some of them; see the module
/// documentation).
#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    for n in [3_000, 20_000, 100_000] {
        let chain = format!("x = {}\n", vec!["a"; n].join(" + "));
        let attrs = format!("x = a{}\n", ".b".repeat(n));
        let negs = format!("x = {}a\n", "-".repeat(n));
        let ifs = format!("x = {}\n", vec!["b"; n].join(" if a else "));
        for text in [chain, attrs, negs, ifs] {
            let _ = count_python(&text, PythonVersion::Py313);
        }
    }
}

/// What stays on the caller's stack (below the deep-AST threshold) fits
/// in 1 MiB even unoptimized, with CPython's counts.
#[test]
fn moderately_deep_sources_count_on_a_small_stack() {
    let n = 180;
    let texts: Vec<String> = vec![
        format!("x = {}\n", vec!["a"; n].join(" + ")),
        format!("x = a{}\n", ".b".repeat(n)),
        format!("x = {}a\n", "-".repeat(n)),
        format!("x = {}\n", vec!["b"; n].join(" if a else ")),
        format!("x = {}1{}\n", "(".repeat(150), ")".repeat(150)),
        format!("x = {}b\n", "lambda a=1: ".repeat(60)),
        format!("x = [{}]\n", vec!["f(-1).b"; 20_000].join(", ")),
    ];
    let ours: Vec<_> = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn({
            let texts = texts.clone();
            move || {
                texts
                    .iter()
                    .map(|t| count_python(t, PythonVersion::Py311))
                    .collect()
            }
        })
        .expect("thread")
        .join()
        .expect("no overflow");
    assert!(ours.iter().all(Result::is_ok));
    assert_agrees("moderately deep", &texts);
}
