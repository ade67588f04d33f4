#!/usr/bin/env python3
"""Reference implementation of Odoo's ``cloc`` (the Enterprise ``maintenance`` key), written
from the rules in fixtures/odoo-enterprise/NOTES.md §5-§7, §10 -- not from Odoo's source.

It deliberately uses the stdlib of the interpreter that runs it (os.walk, pathlib.Path.glob,
ast, re, str.strip), so running it under CPython 3.10/3.11/3.12/3.13 gives what Odoo would
give under that interpreter.  It is the end-to-end oracle of the Rust tests and the baseline of
the benchmark (benches/cloc/).  Python 3.10+, stdlib only.

USAGE
    reference.py < request.json              JSON request on stdin, JSON result on stdout
    reference.py [--series N] [--addons DIR]... [--compact] [MODULE_DIR...]
                                             the same from the command line: modules are the
                                             MODULE_DIRs, then every sub-directory of each DIR
                                             holding __manifest__.py/__openerp__.py, in name order

REQUEST (stdin): one object (-> one result object) or a list of them (-> a list of results)
    {
      "odoo_series": 18,              # 16 | 17 | 18 | 19 (default 18). 16: no 100000-char line
                                      # limit; 19: a module whose path is null is skipped (16-18:
                                      # the whole cloc crashes -> cloc/error)
      "modules": [                    # disk modules, in ir.module.module order
        "/abs/path/to/module",        # a path, or
        {"path": "/abs/...", "name": "tech_name"}   # path null = module not found on disk
      ],
      "exclude_dirs": ["/opt/odoo/odoo/addons"],    # optional: cloc's skipped addons dirs; a
                                      # module is skipped when realpath(path) starts with one
                                      # (string prefix, 16-18) / when dirname(realpath(path))
                                      # equals one (19). Default: none (count every module).
      "db_items": [                   # optional: customizations from the database, in Odoo's
        {"key": "odoo/studio",        #   order (server actions, fields, views, attachments)
         "kind": "py",                # py | xml | js | css | scss
         "item": "ir.actions.server/7",   # free label, shown in the result (default "db/<i>")
         "text": "...",               # the code / arch / file content; null allowed (py: Syntax
                                      #   Error; xml/js/css/scss: crash -> cloc/error)
         "exclude": false,            # true: '__cloc_exclude__' xml id (booked as excluded)
         "size": 123}                 # optional size for the 25 MiB test (attachments)
      ],
      "texts": [{"kind": "py", "text": "..."}]     # optional: count bare texts (no cloc run)
    }

RESULT (stdout, JSON, UTF-8, ensure_ascii)
    {
      "python": "3.11.7", "odoo_series": 18,
      "crash": null | "TypeError: ...",   # the exception that turned maintenance into cloc/error
      "modules": [                        # every booked module key, first-seen order (kept
        {"key": "acme_x",                 #   even after a crash: what was counted before it)
         "code": 12, "total": 20,
         "files":    [["/abs/file.py", 10, 15], ...],   # counted files, os.walk order
         "errors":   [["/abs/bad.py", "Syntax Error"], ...],  # Odoo's texts, order of booking
         "excluded": [["/abs/tests/t.py", "tests/**/*"], ...]}  # see EXCLUDED below
      ],
      "maintenance": {"version": 1, "modules": {...}, "errors": [...]},   # as Odoo builds it
      "maintenance_repr": "{'version': 1, ...}",   # repr(): publisher_warranty.cloc
      "texts": [[code, total] | "Syntax Error" | "Max line size exceeded"
                | "crash: AttributeError: ...", ...]   # if asked, one per request text
    }
    EXCLUDED: files that os.walk visits, whose extension is counted (.py .js .xml .css .scss),
    and that an exclude pattern matched; the pattern shown is the first matching one in Odoo's
    order (defaults, then cloc_exclude, demo, demo_xml). DB items with "exclude" show
    "__cloc_exclude__". Odoo itself does not report file exclusions; its own per-module dicts
    are "files" and "errors". A file booked twice (same real path counted twice) keeps its first
    position and its last value, as a dict does; code/total add up every booking.

    Files are listed in os.walk order (the file system's readdir order): compare as sets.
    Paths are str (undecodable bytes of a file name become lone surrogates, "\\udcXX" in JSON,
    which strict JSON parsers such as serde_json reject; the test trees avoid such names).

Divergence notes (documented assumptions, not measured):
  * An excluded DB item books its module (key at 0 lines) and never yields an error.
  * "exclude_dirs" on 19 is read as: skipped when dirname(realpath(path)) equals an entry.
  * When both __manifest__.py and __openerp__.py exist and the first does not evaluate, the
    second is tried too (the defaults are then added twice, which changes nothing).
"""

import ast
import json
import os
import pathlib
import re
import sys

MAX_FILE_SIZE = 25 * 1024 * 1024
MAX_LINE_SIZE = 100000
MANIFEST_NAMES = ("__manifest__.py", "__openerp__.py")
DEFAULT_EXCLUDE = (
    "__manifest__.py",
    "__openerp__.py",
    "tests/**/*",
    "static/lib/**/*",
    "static/tests/**/*",
    "migrations/**/*",
    "upgrades/**/*",
)
MANIFEST_EXCLUDE_KEYS = ("cloc_exclude", "demo", "demo_xml")
COUNTED_EXTENSIONS = (".py", ".js", ".xml", ".css", ".scss")

SYNTAX_ERROR = "Syntax Error"
FILE_SIZE_ERROR = "Max file size exceeded"
LINE_SIZE_ERROR = "Max line size exceeded"

# Comment/string scanners of the C-like languages (NOTES §6). Strings are kept, comments
# become one space; alternation is leftmost-first.
_FLAGS = re.DOTALL | re.MULTILINE
JS_RE = re.compile(r"//.*?$|(?<!\\)/\*.*?\*/|" r"'(\\.|[^\\'])*'|" r'"(\\.|[^\\"])*"', _FLAGS)
SCSS_RE = re.compile(r"//.*?$|/\*.*?\*/|" r"'(?:\\.|[^\\'])*'|" r'"(?:\\.|[^\\"])*"', _FLAGS)
CSS_RE = re.compile(r"/\*.*?\*/|" r"'(?:\\.|[^\\'])*'|" r'"(?:\\.|[^\\"])*"', _FLAGS)
XML_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
# \s of a str pattern is str.isspace: the whitespace Odoo collapses around newlines.
NEWLINE_BLOCK_RE = re.compile(r"\s*\n\s*")


class LineError(Exception):
    """A per-file error that Odoo books instead of line counts (its text is the message)."""


# ---------------------------------------------------------------------------------------------
# Counting one text


def _normalized(text):
    """Odoo trims the text and ends it with one newline before counting; total = newlines."""
    text = text.strip() + "\n"
    return text, text.count("\n")


def _collapsed_code_lines(text):
    """Lines left once blank lines and surrounding whitespace are squeezed out."""
    return NEWLINE_BLOCK_RE.sub("\n", text).lstrip().count("\n")


def count_xml(text):
    """XML: comments removed (even inside CDATA), the rest counted as code."""
    text, total = _normalized(text)
    return _collapsed_code_lines(XML_COMMENT_RE.sub("", text)), total


def _comment_to_space(match):
    """A match starting with '/' is a comment (replaced by a space); otherwise a string (kept)."""
    found = match.group(0)
    return " " if found.startswith("/") else found


def count_c_like(text, regex, series):
    """JS/SCSS/CSS; from 17 a line longer than 100000 chars is an error (minified files)."""
    text, total = _normalized(text)
    if series >= 17 and any(len(piece) > MAX_LINE_SIZE for piece in text.split("\n")):
        raise LineError(LINE_SIZE_ERROR)
    return _collapsed_code_lines(regex.sub(_comment_to_space, text)), total


def count_py(text):
    """Python: code = distinct line numbers of the AST nodes; any failure is a Syntax Error."""
    try:
        text, total = _normalized(text)
        lines = {node.lineno for node in ast.walk(ast.parse(text)) if hasattr(node, "lineno")}
        return len(lines), total
    except Exception:  # noqa: BLE001 -- Odoo books every failure as a syntax error
        raise LineError(SYNTAX_ERROR) from None


def count_text(kind, text, series):
    """(code, total) of `text` as a file of extension `kind`; LineError for Odoo's errors."""
    if kind == "py":
        return count_py(text)
    if kind == "xml":
        return count_xml(text)
    regex = {"js": JS_RE, "scss": SCSS_RE, "css": CSS_RE}[kind]
    return count_c_like(text, regex, series)


# ---------------------------------------------------------------------------------------------
# The accumulator (Odoo's per-module dicts) and the maintenance dict


class Book:
    """Per module key: counted files, errors, exclusions and sums, all in first-seen order."""

    def __init__(self):
        self.modules = {}
        self.error_keys = {}  # module keys in order of their first error (a dict as ordered set)

    def module(self, key):
        """Create the module entry: a counted module stays in `modules` even at 0 lines."""
        if key not in self.modules:
            self.modules[key] = {"code": 0, "total": 0, "files": {}, "errors": {}, "excluded": {}}
        return self.modules[key]

    def count(self, key, item, lines):
        entry = self.module(key)
        entry["files"][item] = lines
        entry["code"] += lines[0]
        entry["total"] += lines[1]

    def error(self, key, item, message):
        self.module(key)["errors"][item] = message
        self.error_keys.setdefault(key, None)

    def exclude(self, key, item, reason):
        self.module(key)["excluded"][item] = reason

    def maintenance(self):
        """{'version': 1} plus 'modules' (every key -> code) and 'errors' (keys with an error,
        in order of their first error), each only when non-empty."""
        result = {"version": 1}
        codes = {key: entry["code"] for key, entry in self.modules.items()}
        if codes:
            result["modules"] = codes
        if self.error_keys:
            result["errors"] = list(self.error_keys)
        return result

    def to_json(self):
        return [
            {
                "key": key,
                "code": entry["code"],
                "total": entry["total"],
                "files": [[path, c, t] for path, (c, t) in entry["files"].items()],
                "errors": [[path, msg] for path, msg in entry["errors"].items()],
                "excluded": [[path, why] for path, why in entry["excluded"].items()],
            }
            for key, entry in self.modules.items()
        ]


# ---------------------------------------------------------------------------------------------
# Disk modules


def manifest_patterns(path):
    """Exclude patterns of the module at `path`, in Odoo's order, before filtering empties.

    Nothing at all when no manifest file opens; the defaults when one opens; plus its
    cloc_exclude/demo/demo_xml values when it evaluates (latin-1 text, literal_eval). A value
    is spread with list.extend, as Odoo does (a string gives its characters; an error stops the
    spreading and the next manifest name is tried)."""
    patterns = []
    for name in MANIFEST_NAMES:
        try:
            with open(os.path.join(path, name), "rb") as handle:
                patterns.extend(DEFAULT_EXCLUDE)
                manifest = ast.literal_eval(handle.read().decode("latin-1"))
                for key in MANIFEST_EXCLUDE_KEYS:
                    patterns.extend(manifest.get(key, []))
                break
        except Exception:  # noqa: BLE001 -- any failure: keep what was gathered, try the next
            pass
    return patterns


def excluded_paths(path, patterns):
    """{path string: first pattern that globbed it}. A bad pattern (absolute, not a string)
    raises, which crashes the whole cloc as in Odoo."""
    found = {}
    root = pathlib.Path(path)
    for pattern in filter(None, patterns):
        for hit in root.glob(pattern):
            found.setdefault(str(hit), pattern)
    return found


def count_module(book, path, series):
    """Count one module directory (already a realpath) into `book` under basename(path)."""
    path = path.rstrip("/")
    exclusions = excluded_paths(path, manifest_patterns(path))
    key = os.path.basename(path)
    book.module(key)
    for root, _dirs, files in os.walk(path):
        for name in files:
            file_path = os.path.join(root, name)
            ext = os.path.splitext(file_path)[1].lower()
            if file_path in exclusions:
                if ext in COUNTED_EXTENSIONS:
                    book.exclude(key, file_path, exclusions[file_path])
                continue
            if ext not in COUNTED_EXTENSIONS:
                continue
            # A dangling symlink raises here: the whole cloc crashes (NOTES §5).
            if os.path.getsize(file_path) > MAX_FILE_SIZE:
                book.error(key, file_path, FILE_SIZE_ERROR)
                continue
            with open(file_path, "rb") as handle:
                text = handle.read().decode("latin-1")
            try:
                book.count(key, file_path, count_text(ext[1:], text, series))
            except LineError as error:
                book.error(key, file_path, str(error))


def is_skipped_dir(real_path, exclude_dirs, series):
    """cloc's standard-addons skip: string prefix up to 18, exact parent dir from 19."""
    if series >= 19:
        return os.path.dirname(real_path) in exclude_dirs
    return any(real_path.startswith(d) for d in exclude_dirs)


def count_modules(book, modules, exclude_dirs, series):
    for module in modules:
        path = module.get("path") if isinstance(module, dict) else module
        if path is None and series >= 19:
            continue  # 19 skips a module it cannot find
        real_path = os.path.realpath(path if path is not None else False)  # None: TypeError
        if is_skipped_dir(real_path, exclude_dirs, series):
            continue
        count_module(book, real_path, series)


# ---------------------------------------------------------------------------------------------
# Database customizations


def count_db_items(book, items, series):
    for index, item in enumerate(items):
        key = item["key"]
        label = item.get("item") or f"db/{index}"
        if item.get("exclude"):
            book.exclude(key, label, "__cloc_exclude__")
            continue
        size = item.get("size")
        if size is not None and size > MAX_FILE_SIZE:
            book.error(key, label, FILE_SIZE_ERROR)
            continue
        try:
            book.count(key, label, count_text(item["kind"], item.get("text"), series))
        except LineError as error:
            book.error(key, label, str(error))


# ---------------------------------------------------------------------------------------------
# One request


def run_request(request):
    series = int(request.get("odoo_series", 18))
    book = Book()
    crash = None
    try:
        count_modules(book, request.get("modules", []), request.get("exclude_dirs", []), series)
        count_db_items(book, request.get("db_items", []), series)
        maintenance = book.maintenance()
    except Exception as error:  # noqa: BLE001 -- Odoo: any exception -> cloc/error
        crash = f"{type(error).__name__}: {error}"
        maintenance = {"version": 1, "errors": ["cloc/error"]}
    result = {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "odoo_series": series,
        "crash": crash,
        "modules": book.to_json(),
        "maintenance": maintenance,
        "maintenance_repr": repr(maintenance),
    }
    if "texts" in request:
        result["texts"] = [count_one_text(t, series) for t in request["texts"]]
    return result


def count_one_text(entry, series):
    """[code, total], Odoo's error text, or "crash: <exception>" (what would crash cloc)."""
    try:
        return list(count_text(entry["kind"], entry["text"], series))
    except LineError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 -- reported, the other texts still count
        return f"crash: {type(error).__name__}: {error}"


def request_from_args(argv):
    """Command-line form: [--series N] [--addons DIR]... [--compact] [MODULE_DIR...]"""
    request = {"odoo_series": 18, "modules": []}
    compact = False
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--series":
            request["odoo_series"] = int(args.pop(0))
        elif arg == "--addons":
            request["modules"].extend(addons_dir_modules(args.pop(0)))
        elif arg == "--compact":
            compact = True
        elif arg in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        else:
            request["modules"].append(arg)
    return request, compact


def addons_dir_modules(directory):
    names = sorted(os.listdir(directory))
    return [
        os.path.join(directory, n)
        for n in names
        if any(os.path.isfile(os.path.join(directory, n, m)) for m in MANIFEST_NAMES)
    ]


def main(argv):
    if argv:
        request, compact = request_from_args(argv)
        result = run_request(request)
        if compact:
            for module in result["modules"]:
                for k in ("files", "errors", "excluded"):
                    module[k] = len(module[k])
        json.dump(result, sys.stdout)
    else:
        request = json.load(sys.stdin)
        if isinstance(request, list):
            json.dump([run_request(r) for r in request], sys.stdout)
        else:
            json.dump(run_request(request), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
