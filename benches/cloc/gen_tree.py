#!/usr/bin/env python3
"""Generate a large, realistic custom addons tree for the cloc benchmark, deterministically
from a seed (same seed and options -> byte-identical tree).

Usage: gen_tree.py OUT_DIR [--seed N] [--modules N] [--lines N] [--no-huge]
  OUT_DIR    created (must not exist or be empty)
  --seed     default 20261206
  --modules  default 300
  --lines    target of lines over all files with a counted extension (.py .js .xml .css .scss),
             excluded ones included; default 500000
  --no-huge  leave out the single 26 MiB file ("Max file size exceeded"; stat-ed, never read)

What a module looks like (sizes vary per module, log-normal): __manifest__.py (some with
cloc_exclude / demo / a pattern ending in '**', which 3.13 treats differently), models/*.py
(fields, decorators, docstrings, comments, f-strings, some multi-line ones whose line numbers
changed in Python 3.12), wizard/, controllers/, views/*.xml and data/*.xml with comments, demo/,
static/src/{js,scss,css} (comments, strings, template literals, regex literals), tests/,
static/tests/, static/lib/ vendored (and minified) files, migrations/, i18n/, security/ csv.
Quirks, a few each: Python syntax errors, UTF-8 BOM, CRLF files, latin-1 bytes, a >100000-char
minified line in static/src, symlinked file aliases (counted twice), a symlinked directory (not
walked), hidden .eslintrc.js, upper-case .PY.

Prints a human summary and, last, one JSON line: {"modules", "files", "files_counted_ext",
"lines": {"py", "xml", "js", "scss", "css", "total"}, "bytes"}.
"""

import json
import math
import os
import random
import sys

WORDS = (
    "vehicle partner invoice order route driver contract shipment warehouse depot tariff zone "
    "slot booking claim incident visit badge asset fleet tyre fuel odometer trailer parcel "
    "manifest carrier customs pallet dock gate shift crew toll permit inspection repair quote "
    "survey ticket lane hub relay cargo freight billing rebate"
).split()
FIELD_KINDS = ("Char", "Integer", "Float", "Boolean", "Date", "Datetime", "Text", "Html", "Monetary")
# Share of --lines given to the per-module budgets: files overshoot their budget by a block
# and tests, demo, vendored files and quirks come on top (calibrated for the defaults).
LINE_BUDGET_FACTOR = 0.67
COUNTED = (".py", ".js", ".xml", ".css", ".scss")


class Writer:
    """Writes files under the tree root and keeps the statistics."""

    def __init__(self, root):
        self.root = root
        self.files = 0
        self.files_counted = 0
        self.bytes = 0
        self.lines = {"py": 0, "xml": 0, "js": 0, "scss": 0, "css": 0}

    def write(self, rel, text, crlf=False, encoding="latin-1", prefix=b""):
        data = text.replace("\n", "\r\n") if crlf else text
        self.write_bytes(rel, prefix + data.encode(encoding))

    def write_bytes(self, rel, data):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        self.files += 1
        self.bytes += len(data)
        ext = os.path.splitext(rel)[1].lower()
        if ext in COUNTED:
            self.files_counted += 1
            self.lines[ext[1:]] += data.count(b"\n") + (0 if data.endswith(b"\n") else 1)

    def symlink(self, target, rel):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)


# ---------------------------------------------------------------------------------------------
# Python


def camel(words):
    return "".join(w.capitalize() for w in words)


def py_header(rng):
    imports = ["import logging"]
    if rng.random() < 0.5:
        imports.append("from datetime import timedelta")
    if rng.random() < 0.3:
        imports.append("import re")
    return (
        "# -*- coding: utf-8 -*-\n"
        "# Part of Acme Logistics. See LICENSE file for full copyright and licensing details.\n"
        + "\n".join(imports)
        + "\n\nfrom odoo import _, api, fields, models\n"
        "from odoo.exceptions import UserError, ValidationError\n\n"
        "_logger = logging.getLogger(__name__)\n"
    )


def py_class(rng, mod, words, transient=False):
    name = ".".join(["acme"] + words)
    kind = "TransientModel" if transient else "Model"
    doc = rng.choice([
        f'    """{words[-1].capitalize()} records of the {mod} module."""\n',
        f'    """{camel(words)}: one line per {words[0]}.\n\n'
        f"    Kept in sync with the carrier portal by a cron; see ``_cron_sync``.\n"
        f'    """\n',
    ])
    out = [f"\n\nclass {camel(words)}(models.{kind}):\n", doc,
           f"    _name = '{name}'\n", f"    _description = '{' '.join(words).capitalize()}'\n"]
    if not transient and rng.random() < 0.6:
        out.append("    _inherit = ['mail.thread', 'mail.activity.mixin']\n")
    out.append(f"    _order = '{rng.choice(['date desc, id desc', 'sequence, id', 'name'])}'\n\n")
    return "".join(out)


def py_field(rng, used):
    word = rng.choice(WORDS)
    kind = rng.choice(FIELD_KINDS + ("Many2one", "One2many", "Selection"))
    fname = f"{word}_{kind.lower()[:3]}_{len(used)}"
    used.append(fname)
    label = f"{word.capitalize()} {kind}"
    r = rng.random()
    if kind == "Many2one":
        return (f"    {fname}_id = fields.Many2one(\n        'res.{word}',\n"
                f"        string='{label}',\n        ondelete='cascade',\n        index=True,\n    )\n")
    if kind == "One2many":
        return f"    {fname}_ids = fields.One2many('acme.{word}.line', 'parent_id', string=\"{label}s\")\n"
    if kind == "Selection":
        opts = "".join(f"        ('{w}', '{w.capitalize()}'),\n" for w in rng.sample(WORDS, 3))
        return f"    {fname} = fields.Selection([\n{opts}    ], default='draft', tracking=True)\n"
    extra = ", required=True" if r < 0.2 else (", tracking=True" if r < 0.4 else "")
    if r > 0.85:
        return (f"    {fname} = fields.{kind}(\n        string='{label}',{extra[1:] and ' ' + extra[2:]}\n"
                f"        help=\"The {word}'s {kind.lower()} value, as \\\"shown\\\" on reports.\",\n    )\n")
    return f"    {fname} = fields.{kind}(string='{label}'{extra})\n"


def py_method(rng, fields_used):
    f1 = rng.choice(fields_used) if fields_used else "name"
    f2 = rng.choice(fields_used) if fields_used else "name"
    w = rng.choice(WORDS)
    kind = rng.randrange(9)
    if kind == 0:
        return (f"\n    @api.depends('{f1}', '{f2}')\n    def _compute_{w}_{f1}(self):\n"
                f"        for record in self:\n            # keep the {w} total in sync\n"
                f"            record.{f1} = sum(record.mapped('{f2}') or [0])\n")
    if kind == 1:
        return (f"\n    @api.onchange('{f1}')\n    def _onchange_{f1}(self):\n"
                f"        if not self.{f1}:\n            return\n"
                f"        self.{f2} = self.{f1}\n")
    if kind == 2:
        return (f"\n    @api.constrains('{f1}')\n    def _check_{f1}(self):\n"
                f"        for record in self.filtered(lambda r: r.{f1}):\n"
                f"            if record.{f1} and record.{f1} < 0:\n"
                f"                raise ValidationError(_(\"The {w} of %s cannot be negative.\", record.display_name))\n")
    if kind == 3:
        return (f"\n    def action_open_{w}(self):\n        self.ensure_one()\n        return {{\n"
                f"            'type': 'ir.actions.act_window',\n            'name': _('{w.capitalize()}s'),\n"
                f"            'res_model': 'acme.{w}',\n            'view_mode': 'list,form',\n"
                f"            'domain': [('id', 'in', self.{f1}_ids.ids)],\n"
                f"            'context': {{'default_{f2}': self.id}},\n        }}\n")
    if kind == 4:
        return (f"\n    def _cron_sync_{w}(self, limit=500):\n"
                f'        """Push pending {w}s to the portal.\n\n        Returns the number of records sent.\n        """\n'
                f"        records = self.search([('{f1}', '=', False)], limit=limit)\n"
                f"        sent = 0\n        for record in records:\n            try:\n"
                f"                record._push_{w}()\n                sent += 1\n"
                f"            except UserError as error:  # the portal refused it\n"
                f"                _logger.warning(\"{w} %s not sent: %s\", record.id, error)\n"
                f"        _logger.info(f\"{{sent}} {w}(s) sent out of {{len(records)}}\")\n"
                f"        return sent\n")
    if kind == 5:
        # Implicit concatenation after an f-string ending in '}': 3.12+ counts one more line.
        return (f"\n    def _label_{w}(self):\n        return (\n"
                f"            f\"{{self.name}}\"\n            \" - \"\n"
                f"            f\"{{self.{f1}}}\"\n        )\n")
    if kind == 6:
        # A '{' on a line where its expression does not start (triple-quoted f-string).
        return (f"\n    def _report_{w}(self):\n        body = f\"\"\"<p>{w.capitalize()} report</p>\n"
                f"<ul><li>{{\n            self.{f1}\n        }}</li></ul>\"\"\"\n        return body\n")
    if kind == 7:
        return (f"\n    @api.model\n    def _{w}_totals(self, domain=None):\n"
                f"        groups = self._read_group(domain or [], ['{f1}'], ['__count'])\n"
                f"        totals = {{key: count for key, count in groups}}\n"
                f"        # sorted for a stable report\n"
                f"        return dict(sorted(totals.items(), key=lambda kv: (-kv[1], str(kv[0]))))\n")
    return (f"\n    def write(self, vals):\n        # {w}: keep the audit trail\n"
            f"        if '{f1}' in vals and not self.env.is_superuser():\n"
            f"            self._check_{w}_access()\n"
            f"        return super().write(vals)\n")


def py_model_file(rng, mod, lines, transient=False):
    parts = [py_header(rng)]
    count = sum(p.count("\n") for p in parts)
    while count < lines:
        words = rng.sample(WORDS, 2)
        part = [py_class(rng, mod, words, transient)]
        used = []
        for _ in range(rng.randint(3, 12)):
            part.append(py_field(rng, used))
        if rng.random() < 0.3:
            part.append("\n    # ------------------------------------------------------------\n"
                        "    # COMPUTE METHODS\n    # ------------------------------------------------------------\n")
        for _ in range(rng.randint(2, 9)):
            part.append(py_method(rng, used))
        text = "".join(part)
        parts.append(text)
        count += text.count("\n")
    return "".join(parts)


def py_controller(rng, mod, lines):
    parts = ["# -*- coding: utf-8 -*-\nfrom odoo import http\nfrom odoo.http import request\n\n\n"
             f"class {camel(mod.split('_')[1:3])}Controller(http.Controller):\n"]
    count = 6
    while count < lines:
        w = rng.choice(WORDS)
        text = (f"\n    @http.route(['/acme/{w}/<int:record_id>'], type='http', auth='user', website=True)\n"
                f"    def portal_{w}_{count}(self, record_id, **kw):\n"
                f"        record = request.env['acme.{w}'].browse(record_id).exists()\n"
                f"        if not record:\n            return request.not_found()\n"
                f"        values = {{'record': record, 'page_name': '{w}'}}\n"
                f"        return request.render('{mod}.portal_{w}', values)\n")
        parts.append(text)
        count += text.count("\n")
    return "".join(parts)


def py_test_file(rng, mod, lines):
    parts = ["from odoo.tests import tagged\nfrom odoo.tests.common import TransactionCase\n\n\n"
             "@tagged('post_install', '-at_install')\nclass TestFlow(TransactionCase):\n"]
    count = 6
    while count < lines:
        w = rng.choice(WORDS)
        text = (f"\n    def test_{w}_{count}(self):\n        record = self.env['acme.{w}'].create({{'name': 'T'}})\n"
                f"        self.assertEqual(record.name, 'T')\n        record.unlink()\n")
        parts.append(text)
        count += text.count("\n")
    return "".join(parts)


def py_init(names):
    return "".join(f"from . import {n}\n" for n in names)


# ---------------------------------------------------------------------------------------------
# XML


def xml_record(rng, mod):
    w = rng.choice(WORDS)
    kind = rng.randrange(5)
    if kind == 0:
        fields_xml = "".join(f'                        <field name="{rng.choice(WORDS)}_id"/>\n'
                             for _ in range(rng.randint(2, 8)))
        return (f'    <!-- {w.capitalize()}: form view -->\n'
                f'    <record id="view_{w}_form_{rng.randrange(10**6)}" model="ir.ui.view">\n'
                f'        <field name="name">acme.{w}.form</field>\n        <field name="model">acme.{w}</field>\n'
                f'        <field name="arch" type="xml">\n            <form string="{w.capitalize()}">\n'
                f'                <header>\n                    <button name="action_confirm" type="object" string="Confirm" class="oe_highlight"/>\n'
                f'                </header>\n                <sheet>\n                    <group>\n{fields_xml}'
                f'                    </group>\n                    <notebook>\n'
                f'                        <page string="Notes" name="notes">\n'
                f'                            <field name="note" placeholder="Internal notes..."/>\n'
                f'                        </page>\n                    </notebook>\n'
                f'                </sheet>\n                <chatter/>\n            </form>\n        </field>\n    </record>\n\n')
    if kind == 1:
        cols = "".join(f'                <field name="{rng.choice(WORDS)}" optional="show"/>\n'
                       for _ in range(rng.randint(3, 7)))
        return (f'    <record id="view_{w}_list_{rng.randrange(10**6)}" model="ir.ui.view">\n'
                f'        <field name="name">acme.{w}.list</field>\n        <field name="model">acme.{w}</field>\n'
                f'        <field name="arch" type="xml">\n            <list decoration-muted="state == \'cancel\'">\n'
                f'{cols}            </list>\n        </field>\n    </record>\n\n')
    if kind == 2:
        return (f'    <!--\n        Search view: filters used by the dispatch team.\n'
                f'        <filter name="old" string="Old" domain="[(\'date\', \'&lt;\', \'2020-01-01\')]"/>\n    -->\n'
                f'    <record id="view_{w}_search_{rng.randrange(10**6)}" model="ir.ui.view">\n'
                f'        <field name="model">acme.{w}</field>\n        <field name="arch" type="xml">\n'
                f'            <search>\n                <field name="name"/>\n'
                f'                <filter name="mine" string="Mine" domain="[(\'user_id\', \'=\', uid)]"/>\n'
                f'                <group expand="0" string="Group By">\n'
                f'                    <filter name="by_state" string="Status" context="{{\'group_by\': \'state\'}}"/>\n'
                f'                </group>\n            </search>\n        </field>\n    </record>\n\n')
    if kind == 3:
        return (f'    <record id="action_{w}_{rng.randrange(10**6)}" model="ir.actions.act_window">\n'
                f'        <field name="name">{w.capitalize()}s</field>\n        <field name="res_model">acme.{w}</field>\n'
                f'        <field name="view_mode">list,form</field>\n'
                f'        <field name="help" type="html">\n            <p class="o_view_nocontent_smiling_face">Create a {w}</p>\n'
                f'        </field>\n    </record>\n    <menuitem id="menu_{w}_{rng.randrange(10**6)}" action="action_{w}" sequence="{rng.randrange(100)}"/>\n\n')
    return (f'    <template id="portal_{w}_{rng.randrange(10**6)}" name="{w.capitalize()} page">\n'
            f'        <t t-call="portal.portal_layout">\n'
            f'            <!-- the list is empty for new customers -->\n'
            f'            <t t-if="not records"><p>No {w} yet.</p></t>\n'
            f'            <t t-foreach="records" t-as="rec">\n'
            f'                <div class="o_acme_{w}" t-att-data-id="rec.id">\n'
            f'                    <span t-field="rec.name"/>\n\n'
            f'                    <![CDATA[ <!-- not a comment for XML, still removed by cloc --> ]]>\n'
            f'                </div>\n            </t>\n        </t>\n    </template>\n\n')


def xml_file(rng, mod, lines):
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<odoo>\n']
    count = 2
    while count < lines:
        text = xml_record(rng, mod)
        parts.append(text)
        count += text.count("\n")
    parts.append("</odoo>\n")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# JS, SCSS, CSS


def js_block(rng, kind):
    """kind 0: a class header (component with setup); 1-5: methods of various shapes."""
    w = rng.choice(WORDS)
    if kind == 0:
        return (f"\n/**\n * {camel([w])} widget: renders the {w} badge.\n * @extends Component\n */\n"
                f"export class {camel([w, 'badge'])} extends Component {{\n"
                f"    static template = \"acme.{camel([w])}Badge\";\n    static props = {{ record: Object, readonly: {{ type: Boolean, optional: true }} }};\n\n"
                f"    setup() {{\n        this.orm = useService(\"orm\");\n        this.state = useState({{ count: 0, label: '' }});\n"
                f"        // load lazily: the list can be long\n        onWillStart(() => this.load());\n    }}\n")
    if kind == 1:
        return (f"\n    async load() {{\n        const ids = await this.orm.search(\"acme.{w}\", [[\"state\", \"=\", 'open']]);\n"
                f"        this.state.count = ids.length; /* shown in the badge */\n"
                f"        this.state.label = `${{ids.length}} {w}(s) for ${{this.props.record.data.display_name}}`;\n    }}\n")
    if kind == 2:
        return (f"\n    get title() {{\n        // title with an escaped quote: don\\'t split it\n"
                f"        return this.props.readonly ? 'Read only \\'{w}\\'' : \"Edit \\\"{w}\\\"\";\n    }}\n")
    if kind == 3:
        return (f"\n    cleanup(value) {{\n        // strip quotes typed by users\n"
                f"        return String(value || \"\").replace(/['\"]+/g, \"\").trim();\n    }}\n")
    if kind == 4:
        return (f"\n    render{camel([w])}(items) {{\n        return items\n"
                f"            .filter((item) => item.active)\n"
                f"            .map((item) => `<li class=\"o_{w}\">${{item.name}} - ${{item.qty}}</li>`)\n"
                f"            .join(\"\\n\");\n    }}\n")
    return (f"\n    /*\n     * Legacy helper kept for the mobile app.\n     * url: http://acme.example/{w}\n     */\n"
            f"    legacy{camel([w])}() {{\n        return {{ url: \"/acme/{w}\", method: 'POST' }}; // eslint-disable-line\n    }}\n")


def js_file(rng, lines):
    """An Odoo-style ES module: imports, then classes of a few methods each."""
    parts = ["/** @odoo-module **/\n\nimport { Component, useState, onWillStart } from \"@odoo/owl\";\n"
             "import { registry } from \"@web/core/registry\";\nimport { useService } from \"@web/core/utils/hooks\";\n"]
    count = 5
    while count < lines:
        block = [js_block(rng, 0)] + [js_block(rng, rng.randrange(1, 6)) for _ in range(rng.randint(2, 6))]
        text = "".join(block) + "}\n"
        parts.append(text)
        count += text.count("\n")
    parts.append(f"\nregistry.category(\"fields\").add(\"acme_{rng.choice(WORDS)}\", {{ component: Component }});\n")
    return "".join(parts)


def scss_file(rng, lines):
    parts = ["// Acme theme variables\n$acme-primary: #1f6f8b !default;\n$acme-gap: map-get($spacers, 2);\n\n"]
    count = 4
    while count < lines:
        w = rng.choice(WORDS)
        text = (f"/* {w}: cards of the dashboard */\n.o_acme_{w} {{\n    display: flex;\n    gap: $acme-gap; // between badges\n"
                f"    background: url(\"/acme/static/img/{w}.svg\") no-repeat;\n"
                f"    &:hover {{\n        color: darken($acme-primary, 10%);\n    }}\n"
                f"    .o_{w}_title {{\n        font-weight: bold;\n        &::after {{ content: ' \\2014'; }}\n    }}\n"
                + ("    background-image: url(http://cdn.acme.example/bg.png);\n" if rng.random() < 0.2 else "")
                + "}\n\n")
        parts.append(text)
        count += text.count("\n")
    return "".join(parts)


def css_file(rng, lines):
    parts = ["/* Print styles of the Acme reports */\n"]
    count = 1
    while count < lines:
        w = rng.choice(WORDS)
        text = (f".o_report_{w} {{\n    margin: 0 auto; /* centered */\n    font-family: \"Helvetica Neue\", Arial;\n}}\n"
                f"@media print {{\n    .o_report_{w} .o_no_print {{ display: none; }}\n}}\n\n")
        parts.append(text)
        count += text.count("\n")
    return "".join(parts)


def minified_js(rng, chars):
    """One long line (a minified bundle), plus a short licence header."""
    chunk = "function(a,b){return a&&b?a+b:'x'+\"y\"},"
    body = "".join(chunk.replace("a", rng.choice("abcdefg")) for _ in range(chars // len(chunk) + 1))
    return "/*! vendor v1.2.3 | MIT */\n!function(){var f=[" + body[:chars] + "0]}();\n"


def vendored_js(rng, lines):
    parts = ["/*!\n * Chart-like vendored library v3.1.0\n * Released under the MIT License\n */\n(function (global) {\n"]
    count = 5
    while count < lines:
        w = rng.choice(WORDS)
        text = (f"    function {w}{count}(ctx, opts) {{\n        var o = opts || {{}};\n"
                f"        ctx.fillText(o.label || '{w}', o.x | 0, o.y | 0);\n        return ctx;\n    }}\n")
        parts.append(text)
        count += text.count("\n")
    parts.append("})(this);\n")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Modules


def split_budget(rng, total, n):
    """Log-normal module sizes scaled to `total` lines (a few big modules, many small)."""
    weights = [rng.lognormvariate(0, 0.9) for _ in range(n)]
    scale = total / sum(weights)
    return [max(60, int(w * scale)) for w in weights]


def file_sizes(rng, budget, low, high):
    sizes = []
    while budget > 0:
        size = min(budget, rng.randint(low, high))
        sizes.append(max(size, 10))
        budget -= size
    return sizes


def manifest(rng, mod, index, data_files, demo_files, js_files):
    lines = ["# -*- coding: utf-8 -*-\n{\n", f"    'name': '{mod.replace('_', ' ').title()}',\n",
             "    'version': '18.0.1.0.%d',\n" % (index % 7),
             f"    'category': '{rng.choice(['Operations', 'Inventory', 'Website', 'Accounting'])}',\n",
             f"    'sequence': {rng.randrange(1, 200)},\n",
             f"    'depends': {rng.sample(['base', 'mail', 'web', 'stock', 'fleet', 'website', 'account'], 2)!r},\n",
             "    'data': [\n" + "".join(f"        '{d}',\n" for d in data_files) + "    ],\n"]
    if demo_files:
        lines.append("    'demo': [\n" + "".join(f"        '{d}',\n" for d in demo_files) + "    ],\n")
    excludes = []
    r = rng.random()
    if r < 0.25:
        excludes.append("static/src/generated/**/*")
    if r < 0.10:
        excludes.append("data/seed_*.xml")
    if 0.25 <= r < 0.32:
        excludes.append("static/src/legacy/**")  # the '**' trap: files excluded only on 3.13
    if 0.32 <= r < 0.38:
        excludes.append("models/unused_*.py")
    if excludes:
        lines.append("    # files cloc must not count\n    'cloc_exclude': [\n"
                     + "".join(f"        '{e}',\n" for e in excludes) + "    ],\n")
    if js_files:
        lines.append("    'assets': {\n        'web.assets_backend': [\n"
                     + "".join(f"            '{mod}/{j}',\n" for j in js_files) + "        ],\n    },\n")
    lines.append(f"    'application': {index % 17 == 0},\n    'license': 'LGPL-3',\n}}\n")
    return "".join(lines), excludes


def make_module(w, rng, index, budget, huge):
    mod = f"acme_{rng.choice(WORDS)}_{rng.choice(WORDS)}_{index:03d}"
    crlf = rng.random() < 0.05
    shares = {"py": 0.46, "xml": 0.22, "js": 0.20, "scss": 0.08, "css": 0.04}

    # Python: models (+ wizard, controllers, tests).
    py_budget = int(budget * shares["py"])
    test_budget = int(py_budget * 0.15)
    model_names = []
    for i, size in enumerate(file_sizes(rng, py_budget - test_budget, 60, 450)):
        name = f"{rng.choice(WORDS)}_{i}"
        model_names.append(name)
        w.write(f"{mod}/models/{name}.py", py_model_file(rng, mod, size), crlf=crlf)
    w.write(f"{mod}/models/__init__.py", py_init(model_names))
    subdirs = ["models"]
    if rng.random() < 0.4:
        w.write(f"{mod}/wizard/__init__.py", py_init(["assign"]))
        w.write(f"{mod}/wizard/assign.py", py_model_file(rng, mod, rng.randint(30, 120), transient=True))
        subdirs.append("wizard")
    if rng.random() < 0.35:
        w.write(f"{mod}/controllers/__init__.py", py_init(["portal"]))
        w.write(f"{mod}/controllers/portal.py", py_controller(rng, mod, rng.randint(20, 90)))
        subdirs.append("controllers")
    w.write(f"{mod}/__init__.py", "# -*- coding: utf-8 -*-\n\n" + py_init(subdirs))
    tests = [f"test_{rng.choice(WORDS)}_{i}" for i in range(max(1, test_budget // 120))]
    w.write(f"{mod}/tests/__init__.py", py_init(tests))
    for t in tests:
        w.write(f"{mod}/tests/{t}.py", py_test_file(rng, mod, max(10, test_budget // len(tests))))

    # XML: views, data, demo.
    data_files = ["security/ir.model.access.csv"]
    for i, size in enumerate(file_sizes(rng, int(budget * shares["xml"]), 40, 400)):
        rel = f"views/{rng.choice(WORDS)}_{i}_views.xml" if i % 3 else f"data/seed_{i}.xml"
        w.write(f"{mod}/{rel}", xml_file(rng, mod, size), crlf=crlf)
        data_files.append(rel)
    w.write(f"{mod}/security/ir.model.access.csv",
            "id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink\n"
            + "".join(f"access_{n},{n},model_acme_{n},base.group_user,1,1,1,0\n" for n in model_names))
    demo_files = []
    if rng.random() < 0.5:
        demo_files.append("demo/demo.xml")
        w.write(f"{mod}/demo/demo.xml", xml_file(rng, mod, rng.randint(20, 120)))

    # JS (some in static/src/generated, some in static/src/legacy), SCSS, CSS.
    js_files = []
    for i, size in enumerate(file_sizes(rng, int(budget * shares["js"]), 40, 350)):
        folder = rng.choice(["js", "js", "js", "components", "generated", "legacy"])
        rel = f"static/src/{folder}/{rng.choice(WORDS)}_{i}.js"
        w.write(f"{mod}/{rel}", js_file(rng, size), crlf=crlf)
        js_files.append(rel)
    for i, size in enumerate(file_sizes(rng, int(budget * shares["scss"]), 30, 250)):
        w.write(f"{mod}/static/src/scss/{rng.choice(WORDS)}_{i}.scss", scss_file(rng, size))
    for i, size in enumerate(file_sizes(rng, int(budget * shares["css"]), 20, 150)):
        w.write(f"{mod}/static/src/css/{rng.choice(WORDS)}_{i}.css", css_file(rng, size))
    w.write(f"{mod}/static/tests/{rng.choice(WORDS)}_tests.js", js_file(rng, rng.randint(20, 80)))

    text, _excludes = manifest(rng, mod, index, data_files, demo_files, js_files[:3])
    w.write(f"{mod}/__manifest__.py", text)

    # Non-counted files.
    w.write(f"{mod}/i18n/fr.po", "".join(f'msgid "{x}"\nmsgstr "{x}"\n\n' for x in rng.sample(WORDS, 8)))
    w.write(f"{mod}/README.md", f"# {mod}\n\nCustom module for Acme Logistics.\n")
    w.write_bytes(f"{mod}/static/description/icon.png", bytes(rng.randrange(256) for _ in range(512)))

    # Vendored libraries (excluded), migrations (excluded).
    if rng.random() < 0.3:
        w.write(f"{mod}/static/lib/chartlike/chartlike.js", vendored_js(rng, rng.randint(150, 900)))
        if rng.random() < 0.5:
            w.write(f"{mod}/static/lib/chartlike/chartlike.min.js", minified_js(rng, rng.randint(20000, 150000)))
    if rng.random() < 0.2:
        w.write(f"{mod}/migrations/18.0.1.1/post-migrate.py",
                "def migrate(cr, version):\n    cr.execute(\"UPDATE acme_x SET state = 'draft' WHERE state IS NULL\")\n")
    quirks(w, rng, mod, index, huge, js_files)
    return mod


def quirks(w, rng, mod, index, huge, js_files):
    """The deliberately odd files, a few of each over the tree."""
    if index % 37 == 5:
        w.write(f"{mod}/scripts/broken_{index}.py", "def oops(:\n    return 1\n")  # Syntax Error
    if index % 53 == 7:
        w.write(f"{mod}/scripts/bom_{index}.py", "x = 1\n", prefix=b"\xef\xbb\xbf")  # BOM: Syntax Error
    if index % 61 == 11:
        w.write(f"{mod}/models/match_{index}.py", "def f(x):\n    match x:\n        case {'a': 1}:\n"
                "            return 1\n        case _:\n            return 0\n")
    if index % 89 == 44:  # 3.12 syntax: a Syntax Error on 3.10/3.11 only
        w.write(f"{mod}/models/aliases_{index}.py", "type Pair = tuple[int, int]\n\n\ndef first(p: Pair) -> int:\n    return p[0]\n")
    if index % 29 == 3:
        w.write(f"{mod}/tools/labels.py", "# Libell\xe9s: caf\xe9, na\xefve\nLABELS = {'caf\xe9': '\xe0 la carte'}\n")
    if index % 43 == 9:
        w.write(f"{mod}/static/src/js/vendor.min.js", minified_js(rng, 150000))  # Max line size exceeded
    if index % 31 == 13:
        w.write(f"{mod}/tools/LEGACY.PY", "OLD = True\nNEW = not OLD\n")
    if index % 23 == 17:
        w.write(f"{mod}/.eslintrc.js", "module.exports = {\n    // project rules\n    rules: { 'no-var': 'error' },\n};\n")
    if index % 19 == 2 and js_files:
        target = os.path.basename(js_files[0])
        w.symlink(target, f"{mod}/{os.path.dirname(js_files[0])}/alias_{target}")  # counted twice
    if index % 47 == 21:
        w.symlink("../models", f"{mod}/static/linked_models")  # a symlinked dir: not walked
    if index % 71 == 30:
        w.write(f"{mod}/models/unused_helpers.py", py_model_file(rng, mod, 60))
    if huge and index == 150:
        path = f"{mod}/static/src/js/huge_bundle.js"
        w.write_bytes(path, b"// generated bundle line\n" * (26 * 1024 * 1024 // 25 + 1))  # > 25 MiB
        w.lines["js"] -= 26 * 1024 * 1024 // 25 + 1  # stat-ed only: not part of the line budget


def main(argv):
    args = {"--seed": 20261206, "--modules": 300, "--lines": 500000}
    huge = True
    out = None
    it = iter(argv)
    for arg in it:
        if arg in args:
            args[arg] = int(next(it))
        elif arg == "--no-huge":
            huge = False
        elif arg in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            out = arg
    if not out:
        print(__doc__, file=sys.stderr)
        return 2
    if os.path.exists(out) and os.listdir(out):
        print(f"{out} exists and is not empty", file=sys.stderr)
        return 2
    os.makedirs(out, exist_ok=True)
    rng = random.Random(args["--seed"])
    writer = Writer(out)
    # Leave room for the per-file overheads (headers, closing lines, tests, demo, quirks).
    budgets = split_budget(rng, int(args["--lines"] * LINE_BUDGET_FACTOR), args["--modules"])
    for index, budget in enumerate(budgets):
        make_module(writer, random.Random(rng.randrange(2**63)), index, budget, huge)
    lines = dict(writer.lines, total=sum(writer.lines.values()))
    print(f"{args['--modules']} modules, {writer.files} files ({writer.files_counted} with a counted "
          f"extension), {writer.bytes / 1e6:.1f} MB; lines: " + ", ".join(f"{k} {v}" for k, v in lines.items()))
    print(json.dumps({"modules": args["--modules"], "files": writer.files,
                      "files_counted_ext": writer.files_counted, "lines": lines, "bytes": writer.bytes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
