//! fnmatch's pattern matching of one name: the wildcards of a component.

/// One pattern component compiled as `fnmatch.translate` reads it: `*` any
/// run (dots included), `?` one character, `[...]` / `[!...]` a set with
/// fnmatch's range rules, an unclosed `[` a literal.
#[derive(Debug, Clone)]
pub struct Matcher {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone)]
enum Token {
    Star,
    Any,
    Char(u32),
    Set {
        negated: bool,
        chars: Vec<u32>,
        ranges: Vec<(u32, u32)>,
    },
}

impl Token {
    fn matches(&self, c: u32) -> bool {
        match self {
            Token::Star => true,
            Token::Any => true,
            Token::Char(x) => *x == c,
            Token::Set {
                negated,
                chars,
                ranges,
            } => {
                let inside =
                    chars.contains(&c) || ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                inside != *negated
            }
        }
    }
}

impl Matcher {
    /// Compiles one component.
    pub fn new(pattern: &str) -> Matcher {
        let pat: Vec<u32> = pattern.chars().map(u32::from).collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < pat.len() {
            let c = pat[i];
            i += 1;
            match char::from_u32(c) {
                Some('*') => {
                    if !matches!(tokens.last(), Some(Token::Star)) {
                        tokens.push(Token::Star);
                    }
                }
                Some('?') => tokens.push(Token::Any),
                Some('[') => match parse_set(&pat, i) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => tokens.push(Token::Char(c)),
                },
                _ => tokens.push(Token::Char(c)),
            }
        }
        Matcher { tokens }
    }

    /// A component without wildcards, matched by equality (3.12 lists the
    /// directory even for those).
    pub(super) fn literal(name: &str) -> Matcher {
        Matcher {
            tokens: name.chars().map(|c| Token::Char(u32::from(c))).collect(),
        }
    }

    /// Matches a file name given as bytes, decoded as Python does
    /// (UTF-8 with surrogate escapes for the bytes that are not).
    pub fn matches_bytes(&self, name: &[u8]) -> bool {
        let mut chars = Vec::with_capacity(name.len());
        for chunk in name.utf8_chunks() {
            chars.extend(chunk.valid().chars().map(u32::from));
            chars.extend(chunk.invalid().iter().map(|&b| 0xDC00 + u32::from(b)));
        }
        self.matches(&chars)
    }

    /// Whole-name match with one backtracking point per star (linear in
    /// practice, O(n·m) at worst), the answer the anchored regex gives.
    fn matches(&self, name: &[u32]) -> bool {
        let (mut t, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(t) {
                Some(Token::Star) => {
                    star = Some((t, n));
                    t += 1;
                }
                Some(token) if token.matches(name[n]) => {
                    t += 1;
                    n += 1;
                }
                _ => match star {
                    Some((st, sn)) => {
                        t = st + 1;
                        n = sn + 1;
                        star = Some((st, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[t..]
            .iter()
            .all(|tok| matches!(tok, Token::Star))
    }
}

/// Parses `[...]` starting after the `[` at `start`; `None` when it is not
/// closed (then `[` is a literal). Returns the token and the index after `]`.
fn parse_set(pat: &[u32], start: usize) -> Option<(Token, usize)> {
    const BANG: u32 = '!' as u32;
    const CLOSE: u32 = ']' as u32;
    const DASH: u32 = '-' as u32;
    let mut j = start;
    if pat.get(j) == Some(&BANG) {
        j += 1;
    }
    if pat.get(j) == Some(&CLOSE) {
        j += 1;
    }
    while j < pat.len() && pat[j] != CLOSE {
        j += 1;
    }
    if j >= pat.len() {
        return None;
    }
    let stuff = &pat[start..j];
    let chunks: Vec<Vec<u32>> = if stuff.contains(&DASH) {
        range_chunks(pat, start, j)
    } else {
        vec![stuff.to_vec()]
    };
    let token = set_from_chunks(chunks);
    Some((token, j + 1))
}

/// fnmatch's split of a set at the hyphens that make ranges (a hyphen first,
/// last, or right after a range is literal), then its removal of empty ranges.
fn range_chunks(pat: &[u32], start: usize, end: usize) -> Vec<Vec<u32>> {
    const DASH: u32 = '-' as u32;
    let mut chunks: Vec<Vec<u32>> = Vec::new();
    let mut i = start;
    let mut k = if pat[start] == '!' as u32 {
        start + 2
    } else {
        start + 1
    };
    loop {
        let found = (k..end).find(|&x| pat[x] == DASH);
        let Some(dash) = found else { break };
        chunks.push(pat[i..dash].to_vec());
        i = dash + 1;
        k = dash + 3;
    }
    let last = &pat[i..end];
    if !last.is_empty() {
        chunks.push(last.to_vec());
    } else if let Some(prev) = chunks.last_mut() {
        prev.push(DASH);
    }
    let mut k = chunks.len().saturating_sub(1);
    while k > 0 {
        let (lo, hi) = (chunks[k - 1].last().copied(), chunks[k].first().copied());
        if let (Some(lo), Some(hi)) = (lo, hi)
            && lo > hi
        {
            let tail = chunks.remove(k);
            let prev = &mut chunks[k - 1];
            prev.pop();
            prev.extend_from_slice(&tail[1..]);
        }
        k -= 1;
    }
    chunks
}

/// The set a regex class `[stuff]` denotes, `stuff` being the chunks joined
/// with range hyphens: a leading `!` negates; an empty set never matches.
fn set_from_chunks(mut chunks: Vec<Vec<u32>>) -> Token {
    let mut negated = false;
    if let Some(first) = chunks.first_mut()
        && first.first() == Some(&('!' as u32))
    {
        negated = true;
        first.remove(0);
    }
    let mut chars = Vec::new();
    let mut ranges = Vec::new();
    let count = chunks.len();
    for (index, chunk) in chunks.iter().enumerate() {
        let mut body: &[u32] = chunk;
        if index > 0 {
            if let (Some(lo), Some(&hi)) = (chunks[index - 1].last(), chunk.first()) {
                ranges.push((*lo, hi));
            }
            body = body.get(1..).unwrap_or(&[]);
        }
        if index + 1 < count {
            body = &body[..body.len().saturating_sub(1)];
        }
        chars.extend_from_slice(body);
    }
    Token::Set {
        negated,
        chars,
        ranges,
    }
}
