//! Cross-checks `dbcheckin::wire` against the real CPython on this machine.
//!
//! One `python3` process receives, as JSON: random strings (every Unicode plane, controls,
//! quotes, backslashes, format and private-use characters, characters newer than
//! Unicode 14, plus one string holding every code point), random nested values, and a list
//! of tricky literal snippets. It answers with `repr()` of each string and value, the set
//! of non-printable code points, and, for every snippet and for literals it generates
//! itself (`repr`, `pprint`, an alternative renderer using every escape and number form,
//! and random mutations of those), the outcome of `ast.literal_eval`. We must agree on
//! every byte of every `repr()` and on every parse outcome.
//!
//! If `python3` cannot be run the tests fail: a skipped cross-check would look like a
//! passing one.

use std::collections::HashSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use dbcheckin::wire::{Value, parse_literal, repr};
use serde_json::{Value as Json, json};

const SEED: u64 = 0x0dbc_4ec4_2024_0001;

/// Python side. Tagged values: `["N"]`, `["B", b]`, `["I", n]`, `["F", "<u64 bits>"]`,
/// `["S", s]`, `["L", [..]]`, `["T", [..]]`, `["D", [[k, v], ..]]`, and `["U", type]` for
/// a `literal_eval` result outside what `Value` can hold (set, bytes, big int, ...).
const SCRIPT: &str = r#"
import ast, json, math, pprint, random, struct, sys, unicodedata, warnings
warnings.simplefilter("ignore")

def from_bits(b): return struct.unpack("<d", struct.pack("<Q", int(b)))[0]
def bits(f): return str(struct.unpack("<Q", struct.pack("<d", f))[0])

def dec(t):
    tag = t[0]
    if tag == "N": return None
    if tag in ("B", "I", "S"): return t[1]
    if tag == "F": return from_bits(t[1])
    if tag == "L": return [dec(x) for x in t[1]]
    if tag == "T": return tuple(dec(x) for x in t[1])
    d = {}
    for k, v in t[1]: d[dec(k)] = dec(v)
    return d

def enc(v):
    if v is None: return ["N"]
    if v is True or v is False: return ["B", v]
    if type(v) is int: return ["I", v] if -2**63 <= v < 2**63 else ["U", "big int"]
    if type(v) is float: return ["F", bits(v)]
    if type(v) is str:
        try: v.encode("utf-8")
        except UnicodeEncodeError: return ["U", "surrogate"]
        return ["S", v]
    if type(v) is list: return ["L", [enc(x) for x in v]]
    if type(v) is tuple: return ["T", [enc(x) for x in v]]
    if type(v) is dict: return ["D", [[enc(k), enc(x)] for k, x in v.items()]]
    return ["U", type(v).__name__]

def evaluate(text):
    try:
        return {"ok": enc(ast.literal_eval(text))}
    except Exception as e:
        return {"err": (type(e).__name__ + ": " + str(e)).encode("utf-8", "backslashreplace").decode()}

inp = json.loads(sys.stdin.buffer.read().decode("utf-8"))
rnd = random.Random(inp["seed"])

PIECES = "abcXYZ019 '\"\\\n\r\t\x00\x7f#{}[](),:"
def rchar():
    r = rnd.random()
    if r < 0.4: return rnd.choice(PIECES)
    if r < 0.6: c = rnd.randrange(0, 0x100)
    elif r < 0.8: c = rnd.randrange(0x100, 0x10000)
    else: c = rnd.randrange(0x10000, 0x110000)
    return chr(0xFFFD if 0xD800 <= c <= 0xDFFF else c)
def rstr(): return "".join(rchar() for _ in range(rnd.randrange(0, 8)))
def rint(): return rnd.choice([0, 1, -1, 7, 2**63 - 1, -2**63, rnd.randrange(-2**63, 2**63), rnd.randrange(-1000, 1000)])
def rfloat():
    f = rnd.choice([0.0, -0.0, 0.1, 1e16, 1e-5, 1.5, 5e-324, 1.7976931348623157e308,
                    rnd.uniform(-1e6, 1e6), from_bits(rnd.getrandbits(64))])
    return f if math.isfinite(f) else 2.5
def rscalar(): return rnd.choice([lambda: None, lambda: True, lambda: False, rint, rfloat, rstr, rstr])()
def rkey():
    r = rnd.random()
    if r < 0.5: return rstr()
    if r < 0.8: return rint()
    return tuple(rnd.choice([rstr, rint])() for _ in range(rnd.randrange(0, 3)))
def rval(depth):
    if depth == 0 or rnd.random() < 0.35: return rscalar()
    kind, n = rnd.randrange(3), rnd.randrange(0, 5)
    if kind == 0: return [rval(depth - 1) for _ in range(n)]
    if kind == 1: return tuple(rval(depth - 1) for _ in range(n))
    return {rkey(): rval(depth - 1) for _ in range(n)}

def ws(inside):
    if not inside: return rnd.choice(["", " "])
    return rnd.choice(["", "", " ", "  ", "\n", " # note\n", "\t", " \\\n", "\n\n  ", "\r\n", "\x0c"])

def render_int(v):
    mag, sign = abs(v), ("-" if v < 0 else rnd.choice(["", "", "+"]))
    form = rnd.randrange(5)
    if form == 0: body = str(mag)
    elif form == 1: body = format(mag, "_")
    elif form == 2: body = rnd.choice(["0x", "0X"]) + format(mag, rnd.choice(["x", "X", "_x"]))
    elif form == 3: body = rnd.choice(["0o", "0O"]) + format(mag, rnd.choice(["o", "_o"]))
    else: body = rnd.choice(["0b", "0B"]) + format(mag, rnd.choice(["b", "_b"]))
    if sign and rnd.random() < 0.2: body = "(" + body + ")"
    return sign + body

def render_float(v):
    sign, mag = ("-" if math.copysign(1, v) < 0 else ""), abs(v)
    form = rnd.randrange(5)
    if form == 0: body = repr(mag)
    elif form == 1: body = "%.17e" % mag
    elif form == 2: body = "%.17E" % mag
    elif form == 3: body = repr(mag).replace("0.", ".", 1) if repr(mag).startswith("0.") else repr(mag)
    else:
        body = repr(mag)
        if body[:2].isdigit(): body = body[0] + "_" + body[1:]
    return sign + body

SPECIAL = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "'": "\\'", '"': '\\"',
           "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}
def render_char(c):
    o = ord(c)
    if c.isprintable() and c not in "\\'\"" and rnd.random() < 0.6: return c
    choices = ["\\U%08x" % o]
    if o < 0x100: choices += ["\\x%02x" % o, "\\x%02X" % o]
    if o < 0x200: choices.append("\\%03o" % o)
    if o < 0x10000: choices.append("\\u%04x" % o)
    name = unicodedata.name(c, None)
    if name: choices += ["\\N{%s}" % name, "\\N{%s}" % name.lower()]
    if c in SPECIAL: choices.append(SPECIAL[c])
    return rnd.choice(choices)

def render_chunk(s):
    quote = rnd.choice(["'", '"', "'''", '"""'])
    if s and all(c.isprintable() and c not in "\\'\"" for c in s) and rnd.random() < 0.3:
        return rnd.choice(["r", "R"]) + quote + s + quote
    return rnd.choice(["", "", "u", "U"]) + quote + "".join(render_char(c) for c in s) + quote

def render_str(s, inside):
    if rnd.random() < 0.3: return repr(s)
    cuts = sorted(rnd.randrange(0, len(s) + 1) for _ in range(rnd.randrange(0, 3)))
    parts, last = [], 0
    for c in cuts + [len(s)]:
        parts.append(render_chunk(s[last:c])); last = c
    return (ws(inside) or " ").join(parts) if len(parts) > 1 else parts[0]

def items(seq):
    text = ",".join(ws(True) + render(x, True) + ws(True) for x in seq)
    if seq and rnd.random() < 0.3: text += "," + ws(True)
    return text

def render(v, inside):
    if v is None or v is True or v is False: text = repr(v)
    elif type(v) is int: text = render_int(v)
    elif type(v) is float: text = render_float(v)
    elif type(v) is str: text = render_str(v, inside)
    elif type(v) is list: text = "[" + items(v) + "]"
    elif type(v) is tuple and len(v) == 1: text = "(" + ws(True) + render(v[0], True) + ws(True) + "," + ws(True) + ")"
    elif type(v) is tuple: text = "(" + items(v) + ")"
    else:
        pairs = [ws(True) + render(k, True) + ws(True) + ":" + ws(True) + render(x, True) + ws(True) for k, x in v.items()]
        text = "{" + ",".join(pairs) + ("," if pairs and rnd.random() < 0.3 else "") + "}"
    if rnd.random() < 0.05: text = "(" + text + ")"
    return text

MUTATION = "'\"\\()[]{},:#\n\r\t \x0c-+.0123456789_eEjJxXoObBrRuUfFNTFal\x00é😀"
def mutate(text):
    chars = list(text)
    for _ in range(rnd.randrange(1, 4)):
        op, i = rnd.randrange(3), rnd.randrange(0, len(chars) + 1)
        if op == 0: chars.insert(i, rnd.choice(MUTATION))
        elif chars and op == 1: del chars[i % len(chars)]
        elif chars: chars[i % len(chars)] = rnd.choice(MUTATION)
    return "".join(chars)

texts = list(inp["snippets"])
for _ in range(inp["generated"]):
    v = rval(4)
    texts += [repr(v), pprint.pformat(v, width=rnd.randrange(10, 60), sort_dicts=False), render(v, False)]
    if type(v) is tuple and v:
        texts.append(", ".join(render(x, False) for x in v) + rnd.choice(["", ",", ",\n"]))
generated = list(texts)
for _ in range(inp["mutations"]):
    texts.append(mutate(rnd.choice(generated)))

nonprintable, start = [], None
for cp in range(0x110001):
    np = cp < 0x110000 and not (0xD800 <= cp <= 0xDFFF) and not chr(cp).isprintable()
    if np and start is None: start = cp
    if not np and start is not None:
        nonprintable.append([start, cp - 1]); start = None

out = {
    "version": sys.version,
    "unidata_version": unicodedata.unidata_version,
    "string_reprs": [repr(s) for s in inp["strings"]],
    "value_reprs": [repr(dec(v)) for v in inp["values"]],
    "nonprintable": nonprintable,
    "cases": [[t, evaluate(t)] for t in texts],
}
sys.stdout.buffer.write(json.dumps(out, ensure_ascii=False).encode("utf-8"))
"#;

/// Literal snippets whose `ast.literal_eval` outcome we must reproduce exactly.
#[rustfmt::skip]
const SNIPPETS: &[&str] = &[
    "\n1", "\n  1", "  1", "1\n  ", "1\n  \n", "1\n  # c", "1\n\t", "1 \n", "1\n\x0c", "\x0c1",
    "\n \x0c1", "1 \\\n", "1\\\n  ", "\\\n1", "1\n\\\n", "1 # c\n  ", "[1\n  ]", "1\n#c",
    "\u{feff}1", "'''a\r\nb'''", "'''a\rb'''", "'a\\\r\nb'", "'a\rb'", "-(1)", "-(-1)", "--1",
    "-True", "- 1", "-\n1", "(-\n1)", "{1: 'a', True: 'b'}", "{1: 'a', 1.0: 'b', 2: 3}", "{[1]: 2}",
    "{(1,[2]): 3}", "'\\N{latin small letter a}'", "'\\N{LATIN_SMALL_LETTER_A}'",
    "'\\N{LATINSMALL LETTER A}'", "'\\N{LF}'", "'\\N{NULL}'", "'\\N{hangul syllable ga}'",
    "'\\N{HANGUL SYLLABLE ga}'", "'\\N{HANGUL SYLLABLE GAG}'", "'\\N{cjk unified ideograph-4e00}'",
    "'\\N{CJK UNIFIED IDEOGRAPH-4E00}'", "'\\N{cjk compatibility ideograph-f900}'",
    "'\\N{TANGUT IDEOGRAPH-17000}'", "'\\N{KHITAN SMALL SCRIPT CHARACTER-18B00}'",
    "'\\N{ LATIN SMALL LETTER A}'", "'\\N{}'", "'\\N{latin capital letter gha}'",
    "'\\N{BYTE ORDER MARK}'", "'\\N{BOM}'", "'\\N{ZWSP}'", "'\\N{LATIN SMALL LETTER A }'",
    "'\\N{HANGUL JUNGSEONG O-E}'", "'\\N{TIBETAN MARK TSA -PHRU}'", "'\\N{TIBETAN MARK TSA-PHRU}'",
    "'\\N{latincapital letter gha}'", "'\\N{BYTE ORDERMARK}'", "'\\N{EM}'", "'\\N{END OF MEDIUM}'",
    "'\\N{LIGHT BLUE HEART}'", "'\\N{SPACE'", "'\\N SPACE'", "'\\N{latin small letter a\\}'", "01",
    "00", "0_0", "1__0", "1_", "0x_1", "0x", "0o8", "0b2", "0b_2", "1e5j", "1abc", "1if", "0xfor",
    "1.e5", "1._5", "1_.5", "01.5", "1e_5", "1e+_5", "0e0", "00.0", "0_7", "00x1", "1.x", "1.j",
    ".5j", "1e1_0", "0x1e5", "'\\777'", "'\\400'", "'\\8'", "'\\x4'", "'\\u12'", "'\\U00110000'",
    "'\\ud800'", "'\\udfff'", "r'\\''", "r'\\'", "ur'x'", "Rb'x'", "u'a' 'b'", "'a' b'b'", "f'x'",
    "F'{1}'", "{1, 2}", "{}", "()", "(1)", "(1,)", "(,)", "[,]", "[1,,]", "{'a':1,}", "...",
    "1 if 1 else 2", "'a' \\\n 'b'", "1 \\ 2", "'a'\n'b'", "9223372036854775807",
    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "-(9223372036854775808)",
    "1e400", "-1e400", "0x7fffffffffffffff", "'\\\n'", "'''\\\n'''", "'\x00'", "\t1", "1\t",
    "[\n1\n,\n]", "( # c\n1 # d\n)", "'abc", "'''abc", "'''abc\n", "'abc\n'", "[1 2]", "1 2",
    "{'a' 'b'}", "{1:2, 3}", "{1, 2:3}", "True", "true", "None", "+1.5", "+(1)", "-(1.5)",
    "-(True)", "(((1)))", "-((1))", "1.5e", "0X1F", "0B1_0", "0O1_7", "1_0.0_1e1_0", "'\\q'",
    "'\\ '", "r'\\n'", "'a' # c\n 'b'", "['a' # c\n 'b']", "b", "bx'a'", "1_000j", "1J", ".5", "5.",
    ".", "-.5", "1..2", "\n\n", "", " ", "# only", "{**{}}", "[*[]]", "(1)(2)", "[1][0]", "1 +",
    "1,", "1, 2", "1,,", ",", "(1, 2),", "1 \\\n , 2", "\"\"\"a\"\"\"\"", "'''a''''", "''''''",
    "'''\\''''", "R'\\\\'", "U'x'", "Ur'x'", "rU'x'", "BR'x'", "fR'x'", "'\\0000'", "'\\1234'",
    "'\\a\\b\\f\\v'", "-0.0", "-0", "1 -1", "not 1", "[1]+[2]", "-None", "1+2j", "<html>",
    "{\"a\": true}", "{'a': [1, {'b': (2,)}], 'c': -3.5e-7}", "\\\n  1", "\\\n1", "\n \\\n\x0c1",
    "1\n\\\n", "\\\n#c\n1", "\\\n\n1", "[1,\n\\\n  2]", "1\n \\\n", "1\n\\\n  ", " \\\n \x0c 2",
    "x = 1", "'é' 'ü'", "'\\N{EM DASH}\\u2014\\x41'",
];

struct Rng(u64);

impl Rng {
    /// splitmix64: deterministic, so a failure reproduces.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn range(&mut self, lo: u32, hi_inclusive: u32) -> u32 {
        lo + self.below(u64::from(hi_inclusive - lo) + 1) as u32
    }
}

/// Characters whose `repr()` is easy to get wrong.
const TRICKY: &[u32] = &[
    0x27, 0x22, 0x5c, 0x7f, 0xa0, 0xad, 0x378, 0x61c, 0x1680, 0x180e, 0x2000, 0x200a, 0x200b,
    0x200d, 0x200f, 0x2028, 0x2029, 0x202f, 0x205f, 0x2060, 0x2064, 0x3000, 0xe000, 0xf8ff, 0xfe0f,
    0xfeff, 0xfff9, 0xfffb, 0xfffd, 0xfffe, 0xffff, 0x110bd, 0x13430, 0x13438, 0x13439, 0x1343f,
    0x1f600, 0x1fa74, 0x1fa75, 0x1fffe, 0xe0000, 0xe0001, 0xe0020, 0xe007f, 0xf0000, 0xffffd,
    0x100000, 0x10fffd, 0x10ffff, 0x897, 0x1b4e, 0x0301,
];

/// Ranges assigned after Unicode 14.0 (CJK extensions H and I, Unicode 16 blocks).
const NEWER: &[(u32, u32)] = &[
    (0x31350, 0x323af),
    (0x2ebf0, 0x2ee5d),
    (0x1cc00, 0x1ceb3),
    (0x13460, 0x143fa),
];

fn random_char(rng: &mut Rng) -> char {
    let cp = match rng.below(9) {
        0 => rng.range(0x20, 0x7e),
        1 => rng.pick(&[0x27, 0x22, 0x5c, 0x5c]),
        2 => {
            let control = rng.range(0, 0x1f);
            rng.pick(&[0x7f, control])
        }
        3 => rng.range(0x80, 0xff),
        4 => rng.pick(TRICKY),
        5 => rng.range(0x100, 0xffff),
        6 => rng.range(0, 0x10ffff),
        7 => {
            let (lo, hi) = rng.pick(NEWER);
            rng.range(lo, hi)
        }
        _ => rng.range(0x1f300, 0x1faff),
    };
    char::from_u32(cp).unwrap_or('\u{fffd}')
}

fn random_string(rng: &mut Rng) -> String {
    let len = rng.below(17);
    (0..len).map(|_| random_char(rng)).collect()
}

/// Every Unicode scalar value, for an exhaustive `repr()` comparison.
fn every_code_point() -> String {
    (0..=0x10ffffu32).filter_map(char::from_u32).collect()
}

fn random_float(rng: &mut Rng) -> f64 {
    match rng.below(3) {
        0 => f64::from_bits(rng.next()),
        1 => rng.pick(&[
            0.0,
            -0.0,
            0.1,
            1e16,
            1e15,
            1e-5,
            1e-4,
            5e-324,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ]),
        _ => (rng.next() as i64 as f64) / 1000.0,
    }
}

fn random_scalar(rng: &mut Rng) -> Value {
    match rng.below(7) {
        0 => Value::None,
        1 => Value::Bool(rng.below(2) == 1),
        2 => Value::Int(rng.next() as i64),
        3 => Value::Int(rng.below(2001) as i64 - 1000),
        4 => Value::Float(random_float(rng)),
        _ => Value::Str(random_string(rng)),
    }
}

/// A hashable key whose `repr()` identifies it (no bools or floats, which Python would
/// merge with equal ints), so that distinct reprs mean distinct Python keys.
fn random_key(rng: &mut Rng) -> Value {
    match rng.below(4) {
        0 | 1 => Value::Str(random_string(rng)),
        2 => Value::Int(rng.next() as i64),
        _ => Value::Tuple(
            (0..rng.below(3))
                .map(|_| Value::Str(random_string(rng)))
                .collect(),
        ),
    }
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    if depth == 0 || rng.below(3) == 0 {
        return random_scalar(rng);
    }
    let len = rng.below(5);
    match rng.below(3) {
        0 => Value::List((0..len).map(|_| random_value(rng, depth - 1)).collect()),
        1 => Value::Tuple((0..len).map(|_| random_value(rng, depth - 1)).collect()),
        _ => {
            let mut seen = HashSet::new();
            let mut entries = Vec::new();
            for _ in 0..len {
                let key = random_key(rng);
                if seen.insert(repr(&key)) {
                    entries.push((key, random_value(rng, depth - 1)));
                }
            }
            Value::Dict(entries)
        }
    }
}

fn encode(v: &Value) -> Json {
    match v {
        Value::None => json!(["N"]),
        Value::Bool(b) => json!(["B", b]),
        Value::Int(i) => json!(["I", i]),
        Value::Float(f) => json!(["F", f.to_bits().to_string()]),
        Value::Str(s) => json!(["S", s]),
        Value::List(items) => json!(["L", items.iter().map(encode).collect::<Vec<_>>()]),
        Value::Tuple(items) => json!(["T", items.iter().map(encode).collect::<Vec<_>>()]),
        Value::Dict(entries) => json!([
            "D",
            entries
                .iter()
                .map(|(k, v)| json!([encode(k), encode(v)]))
                .collect::<Vec<_>>()
        ]),
    }
}

/// The value of a tagged Python result; `Ok(None)` when it holds something outside
/// `Value` (which our parser must therefore reject).
fn decode(j: &Json) -> Result<Option<Value>, String> {
    let tag = j.get(0).and_then(Json::as_str).ok_or("missing tag")?;
    let arg = j.get(1).unwrap_or(&Json::Null);
    Ok(Some(match tag {
        "N" => Value::None,
        "B" => Value::Bool(arg.as_bool().ok_or("bad bool")?),
        "I" => Value::Int(arg.as_i64().ok_or("bad int")?),
        "F" => Value::Float(f64::from_bits(
            arg.as_str()
                .and_then(|b| b.parse().ok())
                .ok_or("bad float")?,
        )),
        "S" => Value::Str(arg.as_str().ok_or("bad str")?.to_owned()),
        "L" | "T" => {
            let Some(items) = decode_items(arg)? else {
                return Ok(None);
            };
            if tag == "L" {
                Value::List(items)
            } else {
                Value::Tuple(items)
            }
        }
        "D" => match decode_entries(arg)? {
            Some(entries) => Value::Dict(entries),
            None => return Ok(None),
        },
        "U" => return Ok(None),
        other => return Err(format!("unknown tag {other}")),
    }))
}

fn decode_items(arg: &Json) -> Result<Option<Vec<Value>>, String> {
    let mut items = Vec::new();
    for item in arg.as_array().ok_or("bad list")? {
        match decode(item)? {
            Some(v) => items.push(v),
            None => return Ok(None),
        }
    }
    Ok(Some(items))
}

fn decode_entries(arg: &Json) -> Result<Option<Vec<(Value, Value)>>, String> {
    let mut entries = Vec::new();
    for pair in arg.as_array().ok_or("bad dict")? {
        let (Some(k), Some(v)) = (decode(&pair[0])?, decode(&pair[1])?) else {
            return Ok(None);
        };
        entries.push((k, v));
    }
    Ok(Some(entries))
}

/// Equality with floats compared by bit pattern.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}

struct Batch {
    strings: Vec<String>,
    values: Vec<Value>,
}

fn make_batch() -> Batch {
    let mut rng = Rng(SEED);
    let mut strings: Vec<String> = (0..2000).map(|_| random_string(&mut rng)).collect();
    strings.push(every_code_point());
    let values = (0..300).map(|_| random_value(&mut rng, 4)).collect();
    Batch { strings, values }
}

struct Python {
    batch: Batch,
    out: Json,
}

impl Python {
    fn version(&self) -> String {
        format!(
            "python3 {} (Unicode {})",
            self.out["version"]
                .as_str()
                .unwrap_or("?")
                .replace('\n', " "),
            self.out["unidata_version"].as_str().unwrap_or("?")
        )
    }

    fn strings(&self, key: &str) -> Vec<&str> {
        let list = self.out[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key}"));
        list.iter().map(|s| s.as_str().expect("string")).collect()
    }
}

fn run_python(batch: Batch) -> Python {
    let input = json!({
        "seed": SEED,
        "strings": batch.strings,
        "values": batch.values.iter().map(encode).collect::<Vec<_>>(),
        "snippets": SNIPPETS,
        "generated": 1000,
        "mutations": 10000,
    });
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .env("PYTHONIOENCODING", "utf-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `python3` for the CPython cross-check (is it on PATH?): {e}")
        });
    let mut stdin = child.stdin.take().expect("piped stdin");
    let body = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(body.as_bytes()));
    let output = child.wait_with_output().expect("python3 output");
    writer
        .join()
        .expect("stdin writer")
        .expect("writing to python3");
    assert!(
        output.status.success(),
        "python3 failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let out = serde_json::from_slice(&output.stdout).expect("python3 printed JSON");
    Python { batch, out }
}

fn python() -> &'static Python {
    static PYTHON: OnceLock<Python> = OnceLock::new();
    PYTHON.get_or_init(|| run_python(make_batch()))
}

/// The first character position where two reprs differ, with context, for a readable
/// failure.
fn first_difference(ours: &str, theirs: &str) -> String {
    let a: Vec<char> = ours.chars().collect();
    let b: Vec<char> = theirs.chars().collect();
    let at = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let context = |v: &[char]| -> String {
        v[at.saturating_sub(20)..(at + 20).min(v.len())]
            .iter()
            .collect()
    };
    format!(
        "first difference at char {at}:\n  ours:   {:?}\n  python: {:?}",
        context(&a),
        context(&b)
    )
}

#[test]
fn string_reprs_match_cpython() {
    let py = python();
    let theirs = py.strings("string_reprs");
    assert_eq!(theirs.len(), py.batch.strings.len());
    for (i, (s, expected)) in py.batch.strings.iter().zip(&theirs).enumerate() {
        let ours = repr(&Value::Str(s.clone()));
        assert!(
            ours == *expected,
            "repr of string #{i} differs from {}\n{}",
            py.version(),
            first_difference(&ours, expected)
        );
    }
}

#[test]
fn value_reprs_match_cpython() {
    let py = python();
    let theirs = py.strings("value_reprs");
    assert_eq!(theirs.len(), py.batch.values.len());
    for (i, (v, expected)) in py.batch.values.iter().zip(&theirs).enumerate() {
        let ours = repr(v);
        assert!(
            ours == *expected,
            "repr of value #{i} differs from {}\n{}",
            py.version(),
            first_difference(&ours, expected)
        );
    }
}

/// Our printable set, read off `repr()`: a character is printable iff it is kept as is.
fn our_nonprintable_ranges() -> Vec<(u32, u32)> {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
        // `'` and `\` are printable although `repr()` escapes them.
        let kept = matches!(c, '\'' | '\\') || repr(&Value::Str(c.to_string())) == format!("'{c}'");
        let cp = u32::from(c);
        match ranges.last_mut() {
            _ if kept => {}
            Some((_, hi)) if *hi + 1 == cp => *hi = cp,
            _ => ranges.push((cp, cp)),
        }
    }
    ranges
}

/// Exhaustive: every code point is escaped by both or by neither. We follow Python 3.11's
/// Unicode 14.0, so a different Python may legitimately disagree on newer characters;
/// the message says which Python was asked.
#[test]
fn printable_set_matches_cpython_for_every_code_point() {
    let py = python();
    let theirs: Vec<(u32, u32)> = py.out["nonprintable"]
        .as_array()
        .expect("nonprintable")
        .iter()
        .map(|r| {
            (
                r[0].as_u64().unwrap_or(0) as u32,
                r[1].as_u64().unwrap_or(0) as u32,
            )
        })
        .collect();
    let ours = our_nonprintable_ranges();
    let differs = ours.iter().zip(&theirs).find(|(a, b)| a != b);
    assert!(
        ours.len() == theirs.len() && differs.is_none(),
        "non-printable ranges differ from {} (we follow Unicode 14.0 = Python 3.11): \
         first differing range ours={:x?} python={:x?}; {} vs {} ranges",
        py.version(),
        differs.map(|d| d.0),
        differs.map(|d| d.1),
        ours.len(),
        theirs.len()
    );
}

/// Every snippet, generated literal and mutation: same value, or both reject it.
#[test]
fn parser_agrees_with_literal_eval() {
    let py = python();
    let cases = py.out["cases"].as_array().expect("cases");
    let mut accepted = 0;
    let mut mismatches = Vec::new();
    for case in cases {
        let text = case[0].as_str().expect("text");
        let expected = match case[1].get("ok") {
            Some(tagged) => decode(tagged).unwrap_or_else(|e| panic!("{text:?}: {e}")),
            None => None,
        };
        let ours = parse_literal(text);
        let agrees = match (&expected, &ours) {
            (Some(e), Ok(v)) => same(e, v),
            (None, Err(_)) => true,
            _ => false,
        };
        accepted += usize::from(expected.is_some());
        if !agrees {
            mismatches.push(format!(
                "{text:?}\n  python: {}\n  ours:   {ours:?}",
                case[1]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} literals differ from ast.literal_eval in {}; first ones:\n{}",
        mismatches.len(),
        cases.len(),
        py.version(),
        mismatches[..mismatches.len().min(5)].join("\n")
    );
    eprintln!(
        "{} literals checked against {}; Python accepted {accepted}",
        cases.len(),
        py.version()
    );
    // Guard against a generator that only produces garbage.
    assert!(
        accepted * 4 > cases.len(),
        "only {accepted} of {} accepted",
        cases.len()
    );
}
