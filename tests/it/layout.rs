//! The module graph of `src/`, read with `syn`: no import cycles between
//! modules, commands depend on the domain and never the reverse, and no
//! command depends on another. A cycle found here names the files and paths
//! that make it, so the fix is where the message points.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

type Module = Vec<String>;

/// Every module of the library with its file (`src/status/mod.rs` is
/// `status`, `src/status/gather.rs` is `status::gather`).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("src/ is readable").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(src).expect("under src/");
                let mut module: Module = relative
                    .with_extension("")
                    .iter()
                    .map(|part| part.to_string_lossy().into_owned())
                    .collect();
                if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                    module.pop();
                }
                if module.last().map(String::as_str) != Some("main") {
                    found.insert(module, path);
                }
            }
        }
    }
    found
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr
                .parse_args::<syn::Meta>()
                .is_ok_and(|meta| meta.path().is_ident("test"))
    })
}

/// The `crate::`, `super::` and `self::` paths a file names outside its tests.
#[derive(Default)]
struct Paths {
    found: Vec<Vec<String>>,
}

impl Paths {
    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.add(prefix, Some(n.ident.to_string())),
            syn::UseTree::Rename(r) => self.add(prefix, Some(r.ident.to_string())),
            syn::UseTree::Glob(_) => self.add(prefix, None),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }

    fn add(&mut self, prefix: &[String], last: Option<String>) {
        let mut path = prefix.to_vec();
        path.extend(last.filter(|name| name != "self"));
        if matches!(
            path.first().map(String::as_str),
            Some("crate" | "super" | "self")
        ) {
            self.found.push(path);
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if !is_test_only(attrs) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.add(&segments, None);
        syn::visit::visit_path(self, path);
    }
}

/// `path` as written in `module`, made absolute (`super::x` in `a::b` is `a::x`).
fn absolute(module: &Module, path: &[String]) -> Module {
    let mut base: Module = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            base = module.clone();
            rest = &path[1..];
        }
        _ => {
            base = module.clone();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
    }
    base.extend(rest.iter().cloned());
    base
}

/// Which module a path lands in: the longest module that prefixes it.
fn target(modules: &BTreeMap<Module, PathBuf>, path: &Module) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|prefix| modules.contains_key(prefix))
}

/// Module → modules it names, with one example (file, path) per edge.
type Edges = BTreeMap<(Module, Module), String>;

fn edges(modules: &BTreeMap<Module, PathBuf>) -> Edges {
    let mut edges = Edges::new();
    for (module, file) in modules {
        let text = std::fs::read_to_string(file).expect("source is readable");
        let parsed = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", file.display()));
        let mut paths = Paths::default();
        paths.visit_file(&parsed);
        for path in paths.found {
            let absolute = absolute(module, &path);
            if let Some(to) = target(modules, &absolute)
                && &to != module
            {
                edges.entry((module.clone(), to)).or_insert_with(|| {
                    let shown = file
                        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                        .unwrap_or(file);
                    format!("{} names {}", shown.display(), path.join("::"))
                });
            }
        }
    }
    edges
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// Edges between siblings: `a::x → b::y` is `a → b` under their common
/// parent. A module naming its own ancestor or descendant is not a cycle
/// between modules (a child uses its parent's items by design).
fn sibling_edges(edges: &Edges) -> BTreeMap<(Module, Module), String> {
    let mut siblings = BTreeMap::new();
    for ((from, to), example) in edges {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == to.len() {
            continue;
        }
        siblings
            .entry((from[..=common].to_vec(), to[..=common].to_vec()))
            .or_insert_with(|| example.clone());
    }
    siblings
}

/// The strongly connected components with more than one module.
fn cycles(graph: &BTreeMap<(Module, Module), String>) -> Vec<BTreeSet<Module>> {
    let mut next: BTreeMap<&Module, Vec<&Module>> = BTreeMap::new();
    for (from, to) in graph.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    let reach = |start: &Module| -> BTreeSet<Module> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for &n in &next[node] {
                if seen.insert(n.clone()) {
                    stack.push(n);
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&Module, BTreeSet<Module>> =
        next.keys().map(|&node| (node, reach(node))).collect();
    let mut components: Vec<BTreeSet<Module>> = Vec::new();
    for (&node, reached) in &reachable {
        if !reached.contains(node) || components.iter().any(|c| c.contains(node)) {
            continue;
        }
        let component: BTreeSet<Module> = reached
            .iter()
            .filter(|other| reachable[other].contains(node))
            .cloned()
            .collect();
        components.push(component);
    }
    components
}

fn graph() -> (BTreeMap<Module, PathBuf>, Edges) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    assert!(
        modules.len() > 50 && modules.contains_key(&vec!["cmd".to_string()]),
        "the walk of src/ found too little: {:?}",
        modules.keys().collect::<Vec<_>>()
    );
    let edges = edges(&modules);
    (modules, edges)
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let (_, edges) = graph();
    let siblings = sibling_edges(&edges);
    let found = cycles(&siblings);
    let described: Vec<String> = found
        .iter()
        .map(|cycle| {
            let members: Vec<String> = cycle.iter().map(name).collect();
            let why: Vec<String> = siblings
                .iter()
                .filter(|((a, b), _)| cycle.contains(a) && cycle.contains(b))
                .map(|((a, b), example)| format!("  {} → {}: {example}", name(a), name(b)))
                .collect();
            format!("cycle between {}:\n{}", members.join(", "), why.join("\n"))
        })
        .collect();
    assert!(described.is_empty(), "{}", described.join("\n"));
}

#[test]
fn commands_depend_on_the_domain_never_the_reverse() {
    let (_, edges) = graph();
    let command = |m: &Module| m.first().map(String::as_str) == Some("cmd");
    let wrong: Vec<String> = edges
        .iter()
        .filter(|((from, to), _)| {
            let outside = !command(from) && from.first().map(String::as_str) != Some("cli");
            let between_commands =
                command(from) && command(to) && from.len() > 1 && to.len() > 1 && from[1] != to[1];
            (outside && command(to)) || between_commands
        })
        .map(|((from, to), example)| format!("{} → {}: {example}", name(from), name(to)))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let mut graph = BTreeMap::new();
    graph.insert((m("a"), m("b")), String::new());
    graph.insert((m("b"), m("c")), String::new());
    graph.insert((m("c"), m("a")), String::new());
    graph.insert((m("c"), m("d")), String::new());
    let found = cycles(&graph);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], [m("a"), m("b"), m("c")].into_iter().collect());
    let edges: Edges = [
        ((m("x::one"), m("y::two")), String::new()),
        ((m("x"), m("x::one")), String::new()),
    ]
    .into_iter()
    .collect();
    let siblings = sibling_edges(&edges);
    assert_eq!(siblings.keys().collect::<Vec<_>>(), [&(m("x"), m("y"))]);
    assert_eq!(
        absolute(&m("status::gather"), &["super".into(), "render".into()]),
        m("status::render")
    );
}
