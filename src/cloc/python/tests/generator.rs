//! Random, mostly valid Python sources (seeded), with line breaks wherever
//! the grammar allows them: inside brackets, after backslashes, inside
//! triple-quoted strings and f-string braces, plus comments, blank lines and
//! every newline style.

use fastrand::Rng;

/// `count` sources from `seed`.
pub(super) fn sources(seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng::with_seed(seed);
    (0..count)
        .map(|_| {
            let mut g = Gen {
                rng: Rng::with_seed(rng.u64(..)),
                out: String::new(),
                brackets: 0,
                indent: 0,
                in_def: false,
                in_triple_fstring: 0,
                no_breaks: 0,
            };
            g.module();
            g.out
        })
        .collect()
}

struct Gen {
    rng: Rng,
    out: String,
    /// Open brackets: a line break is free inside them.
    brackets: usize,
    indent: usize,
    in_def: bool,
    /// Inside the braces of a triple-quoted f-string (line breaks are free
    /// there too, as in brackets).
    in_triple_fstring: usize,
    /// Inside the braces of a single-quoted f-string: no line breaks.
    no_breaks: usize,
}

const NAMES: &[&str] = &[
    "a", "b", "self", "x", "y_1", "é", "match", "case", "_", "type",
];

impl Gen {
    fn chance(&mut self, percent: u8) -> bool {
        self.rng.u8(0..100) < percent
    }

    fn pick(&mut self, items: &[&'static str]) -> &'static str {
        items[self.rng.usize(0..items.len())]
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn newline(&mut self) -> &'static str {
        match self.rng.u8(0..20) {
            0 => "\r\n",
            1 => "\r",
            _ => "\n",
        }
    }

    /// Whitespace between two tokens: sometimes a line break when the
    /// grammar allows one.
    fn gap(&mut self) {
        if self.no_breaks > 0 {
            self.push(" ");
        } else if (self.brackets > 0 || self.in_triple_fstring > 0) && self.chance(25) {
            if self.chance(20) && self.in_triple_fstring == 0 {
                self.push("  # c");
            }
            let nl = self.newline();
            self.push(nl);
            if self.chance(15) {
                let nl = self.newline();
                self.push(nl);
            }
            let pad = " ".repeat(self.rng.usize(0..8));
            self.push(&pad);
        } else if self.brackets == 0 && self.in_triple_fstring == 0 && self.chance(3) {
            let nl = self.newline();
            self.push(" \\");
            self.push(nl);
            self.push("    ");
        } else if self.chance(50) {
            self.push(" ");
        }
    }

    fn open(&mut self, s: &str) {
        self.push(s);
        self.brackets += 1;
        self.gap();
    }

    fn close(&mut self, s: &str) {
        self.gap();
        self.brackets -= 1;
        self.push(s);
    }

    fn module(&mut self) {
        for _ in 0..self.rng.usize(1..7) {
            self.statement(0);
        }
    }

    fn line_end(&mut self) {
        if self.chance(10) {
            self.push("  # note");
        }
        let nl = self.newline();
        self.push(nl);
        if self.chance(10) {
            let nl = self.newline();
            self.push(nl);
        }
    }

    fn indent_str(&mut self) {
        let pad = "    ".repeat(self.indent);
        self.push(&pad);
    }

    fn block(&mut self, depth: usize) {
        self.push(":");
        self.line_end();
        self.indent += 1;
        for _ in 0..self.rng.usize(1..3) {
            self.statement(depth + 1);
        }
        self.indent -= 1;
    }

    fn statement(&mut self, depth: usize) {
        self.indent_str();
        let compound = depth < 2;
        match self.rng.u8(0..if compound { 40 } else { 16 }) {
            0..=3 => {
                self.target();
                self.push(" = ");
                self.expr(0);
                self.line_end();
            }
            4..=6 => {
                self.expr(0);
                self.line_end();
            }
            7 => {
                self.push("x: ");
                self.expr(2);
                self.push(" = ");
                self.expr(1);
                self.line_end();
            }
            8 => {
                {
                    let s = self.pick(&[
                        "import a.b as c, d",
                        "from . import x",
                        "from m import y as z",
                    ]);
                    self.push(s)
                };
                if self.chance(50) {
                    self.push(", ");
                    self.push("w");
                }
                self.line_end();
            }
            9 => {
                self.push("from m import ");
                self.open("(");
                self.push("a");
                self.gap();
                self.push(", b as c");
                self.gap();
                self.push(",");
                self.close(")");
                self.line_end();
            }
            10 => {
                {
                    let s = self.pick(&[
                        "pass",
                        "global a, b",
                        "del a, b[1]",
                        "x += 1",
                        "assert a, b",
                    ]);
                    self.push(s)
                };
                self.line_end();
            }
            11 => {
                if self.in_def {
                    self.push("return ");
                    self.expr(0);
                } else {
                    self.push("raise E from ");
                    self.expr(1);
                }
                self.line_end();
            }
            12..=15 => {
                self.expr(0);
                self.line_end();
            }
            16..=18 => self.function(depth),
            19 => {
                self.decorators();
                self.push("class C");
                if self.chance(50) {
                    self.call_args();
                }
                self.block(depth);
            }
            20 | 21 => {
                self.push("if ");
                self.expr(0);
                self.block(depth);
                if self.chance(40) {
                    self.indent_str();
                    self.push("elif ");
                    self.expr(0);
                    self.block(depth);
                }
                if self.chance(40) {
                    self.indent_str();
                    self.push("else");
                    self.block(depth);
                }
            }
            22 => {
                self.push("for ");
                self.target();
                self.push(" in ");
                self.expr(0);
                self.block(depth);
            }
            23 => {
                self.push("while ");
                self.expr(0);
                self.block(depth);
            }
            24 => {
                self.push("try");
                self.block(depth);
                self.indent_str();
                self.push("except ");
                if self.chance(50) {
                    self.open("(");
                    self.push("A,");
                    self.gap();
                    self.push("B");
                    self.close(")");
                } else {
                    self.push("E");
                }
                self.push(" as e");
                self.block(depth);
                if self.chance(50) {
                    self.indent_str();
                    self.push("finally");
                    self.block(depth);
                }
            }
            25 => {
                self.push("with ");
                self.expr(1);
                self.push(" as w");
                if self.chance(50) {
                    self.push(", ");
                    self.expr(1);
                }
                self.block(depth);
            }
            26 | 27 => self.match_statement(depth),
            30 => {
                // Syntax of later versions: errors before them.
                let s = self.pick(&[
                    "type X = list[int]",
                    "type Y[T] = (\n    dict[str, T])",
                    "def g[T: int, *Ts, **P](x: T) -> T: pass",
                    "class K[T](\n    B): pass",
                    "try:\n    pass\nexcept* (\n    E):\n    pass",
                    "x = f'{'a'}'",
                    "x = f'{a # c\n}'",
                    "x = f'{'\\n'.join(a)}'",
                    "x = f'{f'{a}'}'",
                    "x = f'{a:{b:{c}}}'",
                    "x = f'{*a}'",
                    "with (a as b,\n      c):\n    pass",
                ]);
                let s = s.replace('\n', &format!("\n{}", "    ".repeat(self.indent)));
                self.push(&s);
                self.line_end();
            }
            31 => {
                self.push("for ");
                self.target();
                self.push(" in ");
                self.expr(0);
                self.block(depth);
                self.indent_str();
                self.push("else");
                self.block(depth);
            }
            32 => {
                self.push("x = 1; y = ");
                self.expr(1);
                self.push(";");
                self.line_end();
            }
            33 => {
                self.push("\x0c");
                self.expr(0);
                self.line_end();
            }
            34 => {
                self.push("global a, \\");
                let nl = self.newline();
                self.push(nl);
                self.push("    b");
                self.line_end();
            }
            35 if self.in_def => {
                {
                    let s = self.pick(&["async for v in a", "async with a as b"]);
                    self.push(s);
                }
                self.block(depth);
            }
            36 => {
                self.push("x = ");
                {
                    let s =
                        self.pick(&["'\\N{EM DASH}'", "b'\\x00\\n'", "u'x'", "'\\''", "R'\\d'"]);
                    self.push(s);
                }
                self.line_end();
            }
            _ => {
                self.push("x = ");
                self.fstring_concat();
                self.line_end();
            }
        }
    }

    fn decorators(&mut self) {
        for _ in 0..self.rng.usize(0..3) {
            self.push("@");
            self.expr(2);
            self.line_end();
            if self.chance(20) {
                self.indent_str();
                self.push("# between");
                self.line_end();
            }
            self.indent_str();
        }
    }

    fn function(&mut self, depth: usize) {
        self.decorators();
        if self.chance(20) {
            self.push("async ");
        }
        self.push("def f");
        self.open("(");
        // Kinds in an order the grammar accepts: plain, annotated,
        // defaulted, `*args`, keyword-only, `**kw`.
        let mut kinds: Vec<u8> = (0..self.rng.usize(0..5))
            .map(|_| self.rng.u8(0..6))
            .collect();
        kinds.sort_unstable();
        kinds.dedup_by(|a, b| *a >= 3 && a == b);
        for (i, kind) in kinds.into_iter().enumerate() {
            match kind {
                0 => self.push(&format!("p{i}")),
                1 => {
                    self.push(&format!("p{i}: "));
                    self.expr(2);
                }
                2 => {
                    self.push(&format!("p{i}="));
                    self.operand(2);
                }
                3 => self.push("*args"),
                4 => self.push(&format!("k{i}=1")),
                _ => self.push("**kw"),
            }
            self.push(",");
            self.gap();
        }
        self.close(")");
        if self.chance(30) {
            self.push(" -> ");
            self.expr(2);
        }
        let was = self.in_def;
        self.in_def = true;
        self.block(depth);
        self.in_def = was;
    }

    fn match_statement(&mut self, depth: usize) {
        self.push("match ");
        self.expr(1);
        self.push(":");
        self.line_end();
        self.indent += 1;
        for _ in 0..self.rng.usize(1..4) {
            self.indent_str();
            self.push("case ");
            self.pattern(0);
            if self.chance(20) {
                self.push(" if ");
                self.expr(1);
            }
            self.block(depth + 1);
        }
        self.indent -= 1;
    }

    fn pattern(&mut self, depth: usize) {
        let leaf = depth > 2;
        match self.rng.u8(0..if leaf { 4 } else { 9 }) {
            0 => self.push("_"),
            1 => self.push("None"),
            2 => self.push("-1"),
            3 => self.push("'s'"),
            4 => {
                self.open("[");
                self.pattern(depth + 1);
                self.push(",");
                self.gap();
                self.push("*rest");
                self.close("]");
            }
            5 => {
                self.open("{");
                self.push("'k':");
                self.gap();
                self.pattern(depth + 1);
                self.push(",");
                self.gap();
                self.push("**kw");
                self.close("}");
            }
            6 => {
                self.push("P");
                self.open("(");
                self.pattern(depth + 1);
                self.push(",");
                self.gap();
                self.push("x=");
                self.pattern(depth + 1);
                self.close(")");
            }
            7 => {
                self.open("(");
                self.pattern(depth + 1);
                self.gap();
                self.push("|");
                self.gap();
                self.pattern(depth + 1);
                self.close(")");
            }
            _ => {
                self.pattern(depth + 1);
                self.push(" as v");
            }
        }
    }

    fn target(&mut self) {
        match self.rng.u8(0..4) {
            0 => {
                self.open("(");
                self.push("a,");
                self.gap();
                self.push("b");
                self.close(")");
            }
            1 => {
                self.push("a.b");
            }
            2 => {
                self.push("a");
                self.open("[");
                self.expr(2);
                self.close("]");
            }
            _ => {
                let name = NAMES[self.rng.usize(0..NAMES.len())];
                self.push(if name == "match" || name == "case" || name == "type" {
                    "v"
                } else {
                    name
                });
            }
        }
    }

    fn call_args(&mut self) {
        self.open("(");
        let mut kinds: Vec<u8> = (0..self.rng.usize(0..4))
            .map(|_| self.rng.u8(0..5))
            .collect();
        kinds.sort_unstable();
        for (i, kind) in kinds.into_iter().enumerate() {
            match kind {
                0 | 1 => self.expr(1),
                2 => {
                    self.push("*");
                    self.operand(3);
                }
                3 => {
                    self.push(&format!("k{i}="));
                    self.gap();
                    self.expr(2);
                }
                _ => {
                    self.push("**");
                    self.operand(3);
                }
            }
            self.push(",");
            self.gap();
        }
        self.close(")");
    }

    fn atom(&mut self) {
        match self.rng.u8(0..12) {
            0..=3 => {
                let name = NAMES[self.rng.usize(0..NAMES.len())];
                self.push(name);
            }
            4 => {
                let s = self.pick(&["1", "0x1F", "1_000", "1.5e3", "2j", "..."]);
                self.push(s)
            }
            5 => {
                let s = self.pick(&["None", "True", "False"]);
                self.push(s)
            }
            6 | 7 => self.string(),
            8 | 9 => self.fstring_concat(),
            _ => self.push("b'\\x00'"),
        }
    }

    fn string(&mut self) {
        match self.rng.u8(0..5) {
            0 => self.push("'s'"),
            1 => self.push("\"\""),
            2 => {
                let nl = self.newline();
                self.push(&format!("'''doc{nl}  more{nl}'''"));
            }
            3 => self.push("r'\\d'"),
            _ => {
                let nl = self.newline();
                self.push(&format!("'a\\{nl}b'"));
            }
        }
    }

    /// One or more strings, some f-strings, implicitly concatenated.
    fn fstring_concat(&mut self) {
        let wrap = self.chance(50);
        if wrap {
            self.open("(");
        }
        for i in 0..self.rng.usize(1..4) {
            if i > 0 {
                if self.brackets > 0 {
                    self.gap();
                } else {
                    self.push(" ");
                }
            }
            if self.chance(30) {
                self.string();
            } else {
                self.fstring();
            }
        }
        if wrap {
            self.close(")");
        }
    }

    fn fstring(&mut self) {
        let triple = self.chance(50) && self.in_triple_fstring == 0;
        let quote = if triple { "'''" } else { "'" };
        self.push("f");
        self.push(quote);
        for _ in 0..self.rng.usize(0..4) {
            match self.rng.u8(0..6) {
                0 => self.push("text "),
                1 => self.push("{{x}}"),
                2 if triple => {
                    let nl = self.newline();
                    self.push(nl);
                }
                _ => self.replacement(triple),
            }
        }
        self.push(quote);
    }

    fn replacement(&mut self, triple: bool) {
        self.push("{");
        let saved = self.brackets;
        if triple {
            self.in_triple_fstring += 1;
            self.gap();
        } else {
            self.no_breaks += 1;
        }
        if self.chance(4) {
            self.pep701_expr(triple);
        } else {
            self.simple_expr();
        }
        if triple {
            self.gap();
        }
        match self.rng.u8(0..6) {
            0 => self.push("!r"),
            1 => self.push("="),
            2 => {
                self.push(":>");
                if self.chance(50) {
                    self.push("{");
                    self.simple_expr();
                    self.push("}");
                }
                if triple && self.chance(30) {
                    self.push(".2");
                }
            }
            _ => {}
        }
        if triple {
            self.in_triple_fstring -= 1;
        } else {
            self.no_breaks -= 1;
        }
        self.brackets = saved;
        self.push("}");
    }

    /// What only 3.12 accepts in f-string braces (PEP 701): the same quotes,
    /// nested f-strings of the same quotes, comments, backslashes, line
    /// breaks in single-quoted f-strings.
    fn pep701_expr(&mut self, triple: bool) {
        let nl = self.newline();
        let quote = if triple { "'''" } else { "'" };
        match self.rng.u8(0..6) {
            0 => self.push(&format!("{quote}a{quote} + x")),
            1 => self.push(&format!("f{quote}{{a}}{quote}")),
            2 if triple => self.push(&format!("a  # comment{nl}")),
            3 => self.push("'\\n'.join(y)"),
            4 => self.push(&format!("[{nl}a,{nl} b]")),
            _ => self.push(&format!("f'{{x:{{y}}}}' + f\"{{{nl}z}}\"")),
        }
    }

    /// An expression fit for f-string braces before 3.12: no quotes, no
    /// backslashes, no comments.
    fn simple_expr(&mut self) {
        let was_triple = self.in_triple_fstring;
        match self.rng.u8(0..5) {
            0 => self.push("a"),
            1 => {
                self.push("a.b");
                self.open("(");
                self.push("c");
                self.close(")");
            }
            2 => {
                self.push("x");
                self.gap_fstring();
                self.push("+");
                self.gap_fstring();
                self.push("1");
            }
            3 => {
                self.open("[");
                self.push("i for i in y");
                self.close("]");
            }
            _ => self.push("y"),
        }
        self.in_triple_fstring = was_triple;
    }

    /// A gap inside f-string braces: no comments (they are not allowed
    /// before 3.12), no backslashes.
    fn gap_fstring(&mut self) {
        if self.in_triple_fstring > 0 && self.chance(30) {
            let nl = self.newline();
            self.push(nl);
        } else {
            self.push(" ");
        }
    }

    /// Any expression, low-precedence forms included.
    fn expr(&mut self, depth: usize) {
        if depth > 3 {
            self.atom();
            return;
        }
        match self.rng.u8(0..12) {
            0 => {
                self.operand(depth + 1);
                self.gap();
                let s = self.pick(&["+", "-", "*", "@", "%", "//", "**", "|", "<<"]);
                self.push(s);
                self.gap();
                self.operand(depth + 1);
            }
            1 => {
                self.operand(depth + 1);
                self.gap();
                let s = self.pick(&[" and ", " or ", " < ", " not in ", " is not ", " == "]);
                self.push(s);
                self.gap();
                self.operand(depth + 1);
            }
            2 => {
                let s = self.pick(&["not ", "-", "~", "+"]);
                self.push(s);
                self.operand(depth + 1);
            }
            3 => {
                self.push("lambda ");
                let s = self.pick(&["", "a", "a, *b", "a=1, **k", "*, k"]);
                self.push(s);
                self.push(": ");
                self.expr(depth + 1);
            }
            4 => {
                self.operand(depth + 1);
                self.gap();
                self.push(" if ");
                self.operand(depth + 1);
                self.gap();
                self.push(" else ");
                self.expr(depth + 1);
            }
            _ => self.operand(depth),
        }
    }

    /// A primary or a bracketed expression: fit as an operand anywhere.
    fn operand(&mut self, depth: usize) {
        if depth > 3 {
            self.atom();
            return;
        }
        match self.rng.u8(0..16) {
            0..=4 => self.atom(),
            5 => {
                self.name_operand(depth);
                self.call_args();
            }
            6 => {
                self.name_operand(depth);
                self.gap_dot();
                self.push(".attr");
            }
            7 => {
                self.name_operand(depth);
                self.open("[");
                match self.rng.u8(0..4) {
                    0 => self.expr(depth + 1),
                    1 => {
                        self.push(":");
                        self.gap();
                        self.expr(depth + 1);
                    }
                    2 => {
                        self.expr(depth + 1);
                        self.push(",");
                        self.gap();
                        self.expr(depth + 1);
                    }
                    _ => {
                        self.expr(depth + 1);
                        self.push(":");
                        self.gap();
                        self.push(":");
                        self.expr(depth + 1);
                    }
                }
                self.close("]");
            }
            8 => self.display(depth),
            9 => self.comprehension(depth),
            10 => {
                self.open("(");
                self.push("w := ");
                self.expr(depth + 1);
                self.close(")");
            }
            11 => {
                self.open("(");
                let s = self.pick(&["yield ", "await ", "yield from "]);
                self.push(s);
                self.operand(depth + 1);
                self.close(")");
            }
            _ => {
                self.open("(");
                self.expr(depth + 1);
                self.close(")");
            }
        }
    }

    /// An operand that can be called, subscripted or have attributes
    /// without tokenizing trouble (`1.attr` is not an attribute).
    fn name_operand(&mut self, depth: usize) {
        if self.chance(60) {
            let name = NAMES[self.rng.usize(0..NAMES.len())];
            self.push(name);
        } else {
            self.operand(depth + 1);
            if self.out.ends_with(|c: char| c.is_ascii_digit()) {
                self.push(" ");
            }
        }
    }

    fn gap_dot(&mut self) {
        if self.brackets > 0 && self.chance(20) {
            let nl = self.newline();
            self.push(nl);
            self.push("  ");
        }
    }

    fn display(&mut self, depth: usize) {
        let (open, close) = [("[", "]"), ("(", ")"), ("{", "}")][self.rng.usize(0..3)];
        let dict = open == "{" && self.chance(60);
        self.open(open);
        let items = self.rng.usize(0..4);
        for _ in 0..items {
            if dict {
                if self.chance(20) {
                    self.push("**");
                    self.expr(depth + 1);
                } else {
                    self.expr(depth + 1);
                    self.push(":");
                    self.gap();
                    self.expr(depth + 1);
                }
            } else if self.chance(15) {
                self.push("*");
                self.expr(depth + 1);
            } else {
                self.expr(depth + 1);
            }
            self.push(",");
            self.gap();
        }
        if open == "{" && !dict && items == 0 {
            self.push("1");
        }
        self.close(close);
    }

    fn comprehension(&mut self, depth: usize) {
        let (open, close) = [("[", "]"), ("(", ")"), ("{", "}")][self.rng.usize(0..3)];
        self.open(open);
        self.expr(depth + 1);
        if open == "{" && self.chance(50) {
            self.push(":");
            self.gap();
            self.expr(depth + 1);
        }
        for _ in 0..self.rng.usize(1..3) {
            self.gap();
            self.push(" for ");
            self.target();
            self.push(" in ");
            self.expr(depth + 2);
            if self.chance(40) {
                self.gap();
                self.push(" if ");
                self.expr(depth + 2);
            }
        }
        self.close(close);
    }
}
