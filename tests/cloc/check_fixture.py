#!/usr/bin/env python3
"""Assertions of check_reference.sh: compare reference.py's result on the fixture addons with
Odoo's own measurements (ent_e2.cloc_detail.json / ent_e2.cloc_param.txt, Python 3.11) and with
NOTES §7 for 3.12+, plus a few crash/series rules of NOTES §5, §6, §10.

Usage: check_fixture.py PYTHON FIXTURE_DIR ADDONS_COPY
  PYTHON       the interpreter under test (runs reference.py)
  FIXTURE_DIR  fixtures/odoo-enterprise (read only)
  ADDONS_COPY  a writable copy of FIXTURE_DIR/addons with the checkin_alias.js symlink in place
Exit status 0 when everything holds; every failed assertion is printed.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "reference.py")
MODULES = ("acme_portal_theme", "acme_broken_tools", "acme_fleet_checkin")
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def run(python, request):
    out = subprocess.run(
        [python, REFERENCE], input=json.dumps(request), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def expected_detail(fixture, minor):
    """Odoo's 3.11 detail; on 3.12+ checkin.py has one more code line (NOTES §7)."""
    with open(os.path.join(fixture, "ent_e2.cloc_detail.json"), encoding="utf-8") as handle:
        detail = json.load(handle)
    if minor >= 12:
        checkin = "{CUSTOM_ADDONS}/acme_fleet_checkin/models/checkin.py"
        detail["modules"]["acme_fleet_checkin"][checkin] = [68, 96]
        detail["code"]["acme_fleet_checkin"] = 204
    return detail


def expected_param(fixture, minor):
    with open(os.path.join(fixture, "ent_e2.cloc_param.txt"), encoding="utf-8") as handle:
        param = handle.read().rstrip("\n")
    return param.replace("'acme_fleet_checkin': 203", "'acme_fleet_checkin': 204") if minor >= 12 else param


def as_detail(result, addons):
    """reference.py's result in the shape of cloc_detail.json (paths with the placeholder)."""
    prefix = os.path.realpath(addons)

    def rel(path):
        return path.replace(prefix, "{CUSTOM_ADDONS}", 1)

    detail = {"code": {}, "total": {}, "modules": {}, "errors": {}}
    for module in result["modules"]:
        key = module["key"]
        detail["code"][key] = module["code"]
        detail["total"][key] = module["total"]
        detail["modules"][key] = {rel(p): [c, t] for p, c, t in module["files"]}
        if module["errors"]:
            detail["errors"][key] = {rel(p): m for p, m in module["errors"]}
    return detail


EXPECTED_EXCLUDED = {
    "acme_portal_theme": {"__manifest__.py": "__manifest__.py"},
    "acme_broken_tools": {
        "__manifest__.py": "__manifest__.py",
        "scripts/ignored_old.py": "scripts/ignored_*.py",
    },
    "acme_fleet_checkin": {
        "__manifest__.py": "__manifest__.py",
        "tests/__init__.py": "tests/**/*",
        "tests/test_checkin.py": "tests/**/*",
        "tests/sub/deep_helper.py": "tests/**/*",
        "static/lib/chart/chart.js": "static/lib/**/*",
        "static/tests/checkin_tests.js": "static/tests/**/*",
        "migrations/18.0.1.1/post-migrate.py": "migrations/**/*",
        "static/src/generated/gen.js": "static/src/generated/**/*",
        "data/big_seed.xml": "data/big_seed.xml",
        "models/unused_helpers.py": "models/unused_*.py",
        "demo/demo.xml": "demo/demo.xml",
    },
}


def check_fixture(python, minor, fixture, addons):
    paths = [os.path.join(addons, m) for m in MODULES]
    result = run(python, {"odoo_series": 18, "modules": paths})
    check(result["crash"] is None, "no crash")
    got, want = as_detail(result, addons), expected_detail(fixture, minor)
    check(list(got["code"]) == list(MODULES), "module order = input order")
    for part in ("code", "total", "errors"):
        check(got[part] == want[part], f"{part} equal to cloc_detail.json")
    for module in MODULES:
        same = got["modules"][module] == want["modules"][module]
        check(same, f"per-file [code, total] of {module} equal to cloc_detail.json")
        if not same:
            print("     got ", got["modules"][module], "\n     want", want["modules"][module])
    check(result["maintenance_repr"] == expected_param(fixture, minor), "repr == cloc_param.txt")
    check(eval(result["maintenance_repr"]) == result["maintenance"], "maintenance JSON == repr")
    prefix = os.path.realpath(addons) + "/"
    for module in result["modules"]:
        excluded = {p[len(prefix) + len(module["key"]) + 1 :]: why for p, why in module["excluded"]}
        check(excluded == EXPECTED_EXCLUDED[module["key"]], f"exclusions of {module['key']}")
    return result


def check_rules(python, fixture_result, addons):
    """Rules other than the fixture's numbers: series 16/19, crashes, database items."""
    paths = [os.path.join(addons, m) for m in MODULES]
    fleet = [m for m in fixture_result["modules"] if m["key"] == "acme_fleet_checkin"][0]

    r16 = run(python, {"odoo_series": 16, "modules": paths})
    vendor = [f for f in r16["modules"][2]["files"] if f[0].endswith("vendor.min.js")]
    check(len(vendor) == 1 and r16["modules"][2]["code"] == fleet["code"] + vendor[0][1],
          "16: vendor.min.js counted (no line limit)")
    check(r16["maintenance"]["errors"] == ["acme_broken_tools"], "16: fleet has no error")

    missing = [paths[0], {"path": None, "name": "gone"}, paths[1]]
    r18 = run(python, {"odoo_series": 18, "modules": missing})
    check(r18["maintenance_repr"] == "{'version': 1, 'errors': ['cloc/error']}" and
          r18["crash"].startswith("TypeError"), "18: missing module -> cloc/error")
    r19 = run(python, {"odoo_series": 19, "modules": missing})
    check(list(r19["maintenance"]["modules"]) == list(MODULES[:2]), "19: missing module skipped")

    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "dangling")
        os.makedirs(module)
        with open(os.path.join(module, "__manifest__.py"), "w") as handle:
            handle.write("{'name': 'x'}")
        os.symlink("nowhere.js", os.path.join(module, "ghost.js"))
        rd = run(python, {"modules": [paths[0], module]})
        check(rd["maintenance_repr"] == "{'version': 1, 'errors': ['cloc/error']}" and
              rd["crash"].startswith("FileNotFoundError"), "dangling symlink -> cloc/error")
        os.symlink("nowhere.txt", os.path.join(module, "ghost.txt"))
        os.remove(os.path.join(module, "ghost.js"))
        rt = run(python, {"modules": [module]})
        check(rt["maintenance_repr"] == "{'version': 1, 'modules': {'dangling': 0}}",
              "dangling symlink with an uncounted extension is harmless")

        trap = os.path.join(tmp, "trap")
        os.makedirs(os.path.join(trap, "static/src/legacy/sub"))
        with open(os.path.join(trap, "__manifest__.py"), "w") as handle:
            handle.write("{'cloc_exclude': ['static/src/legacy/**']}")
        for rel in ("static/src/legacy/a.js", "static/src/legacy/sub/b.js"):
            with open(os.path.join(trap, rel), "w") as handle:
                handle.write("var a = 1;\n")
        rg = run(python, {"modules": [trap]})
        want = 0 if fixture_result["python"] >= "3.13" else 2
        check(rg["maintenance"]["modules"]["trap"] == want,
              f"pattern ending in '**' excludes {'files' if want == 0 else 'nothing'} here")

    skip = run(python, {"modules": paths, "exclude_dirs": [os.path.realpath(addons)[:-2]]})
    check(skip["maintenance_repr"] == "{'version': 1}", "18: prefix skip of the addons dir")
    skip19 = run(python, {"odoo_series": 19, "modules": paths,
                          "exclude_dirs": [os.path.realpath(addons)[:-2]]})
    check(len(skip19["modules"]) == 3, "19: exact-path skip only")

    items = [
        {"key": "odoo/studio", "kind": "py", "text": "a = 1\n\nb = 2\n"},
        {"key": "my_import", "kind": "xml", "text": "<t>\n<!-- c -->\n<a/>\n</t>"},
        {"key": "odoo/studio", "kind": "py", "text": None, "item": "ir.actions.server/9"},
        {"key": "skipped", "kind": "py", "text": "x", "exclude": True},
    ]
    rdb = run(python, {"modules": paths[:1], "db_items": items})
    check(rdb["maintenance_repr"] == "{'version': 1, 'modules': {'acme_portal_theme': 27, "
          "'odoo/studio': 2, 'my_import': 3, 'skipped': 0}, 'errors': ['odoo/studio']}",
          "database items: order, NULL code error, excluded item")

    texts = run(python, {"modules": [], "texts": [
        {"kind": "css", "text": "\x1c\n.a{}\n\x1f\n"},
        {"kind": "js", "text": "x" * 100000}, {"kind": "js", "text": "x" * 100001},
        {"kind": "py", "text": "\ufeffx = 1"}]})
    check(texts["texts"] == [[1, 1], [1, 1], "Max line size exceeded", "Syntax Error"],
          "texts: python whitespace, 100000-char limit, BOM")
    check(texts["maintenance_repr"] == "{'version': 1}", "nothing counted -> {'version': 1}")


def main():
    python, fixture, addons = sys.argv[1:4]
    minor = int(subprocess.run([python, "-c", "import sys; print(sys.version_info[1])"],
                               capture_output=True, text=True, check=True).stdout)
    result = check_fixture(python, minor, fixture, addons)
    check_rules(python, result, addons)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
