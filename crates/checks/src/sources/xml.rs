//! A small strict XML reader for the answers of NIEM-style sources: an
//! XML declaration, comments, processing instructions, CDATA, the five
//! predefined entities and character references are read; DTDs, unknown
//! entities, unbound prefixes, mismatched tags, duplicate attributes and
//! anything after the root are refused. Elements are named by namespace
//! and local name.

/// Deepest nesting read.
pub const MAX_DEPTH: usize = 64;
/// Most elements read in one document.
pub const MAX_ELEMENTS: usize = 50_000;

/// An element: its namespace, local name, child elements and the text
/// directly inside it (all its text pieces joined).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub ns: Option<String>,
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The first child with this namespace and local name.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name == name && c.ns.as_deref() == Some(ns))
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name == name && c.ns.as_deref() == Some(ns))
    }

    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    elements: usize,
}

type Scope = Vec<(String, String)>;

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.pos))
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start_matches([' ', '\t', '\r', '\n']).len();
    }

    fn expect(&mut self, lit: &str) -> Result<(), String> {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            self.err(&format!("expected {lit:?}"))
        }
    }

    fn until(&mut self, end: &str) -> Result<&'a str, String> {
        match self.rest().find(end) {
            Some(i) => {
                let out = &self.rest()[..i];
                self.pos += i + end.len();
                Ok(out)
            }
            None => self.err(&format!("unterminated (no {end:?})")),
        }
    }

    fn name(&mut self) -> Result<&'a str, String> {
        let r = self.rest();
        let len = r.find(|c: char| !is_name_char(c)).unwrap_or(r.len());
        if len == 0 || r.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') {
            return self.err("expected a name");
        }
        self.pos += len;
        Ok(&r[..len])
    }

    /// Comments, processing instructions and white space (outside the root
    /// or between elements); refuses DTDs.
    fn misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_ws();
            if self.rest().starts_with("<!--") {
                self.pos += 4;
                let body = self.until("-->")?;
                if body.contains("--") {
                    return self.err("\"--\" inside a comment");
                }
            } else if self.rest().starts_with("<?") {
                self.pos += 2;
                self.until("?>")?;
            } else if self.rest().starts_with("<!") && !self.rest().starts_with("<![CDATA[") {
                return self.err("declarations (DTDs) are not accepted");
            } else {
                return Ok(());
            }
        }
    }

    fn element(&mut self, scopes: &mut Vec<Scope>, depth: usize) -> Result<Element, String> {
        if depth > MAX_DEPTH {
            return self.err("nested too deep");
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return self.err("too many elements");
        }
        self.expect("<")?;
        let qname = self.name()?;
        let mut attrs: Vec<(&str, String)> = Vec::new();
        loop {
            let before = self.pos;
            self.skip_ws();
            if self.rest().starts_with("/>") || self.rest().starts_with('>') {
                break;
            }
            if self.pos == before {
                return self.err("expected white space before an attribute");
            }
            let n = self.name()?;
            self.skip_ws();
            self.expect("=")?;
            self.skip_ws();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return self.err("attribute value without quotes"),
            };
            self.pos += 1;
            let raw = self.until(if quote == '"' { "\"" } else { "'" })?;
            if raw.contains('<') {
                return self.err("'<' in an attribute value");
            }
            let value = unescape(raw).map_err(|e| format!("{e} at byte {}", self.pos))?;
            if attrs.iter().any(|(a, _)| *a == n) {
                return self.err(&format!("duplicate attribute {n}"));
            }
            attrs.push((n, value));
        }
        let mut scope: Scope = Vec::new();
        for (n, v) in &attrs {
            if *n == "xmlns" {
                scope.push((String::new(), v.clone()));
            } else if let Some(p) = n.strip_prefix("xmlns:") {
                if v.is_empty() {
                    return self.err("a prefix bound to no namespace");
                }
                scope.push((p.to_owned(), v.clone()));
            }
        }
        scopes.push(scope);
        let resolve = |prefix: &str, scopes: &[Scope]| -> Option<String> {
            scopes
                .iter()
                .rev()
                .flat_map(|s| s.iter().rev())
                .find(|(p, _)| p == prefix)
                .map(|(_, ns)| ns.clone())
        };
        let (ns, local) = match qname.split_once(':') {
            Some((p, l)) => match resolve(p, scopes) {
                Some(ns) => (Some(ns), l),
                None => {
                    scopes.pop();
                    return self.err(&format!("unbound prefix {p}"));
                }
            },
            None => (resolve("", scopes).filter(|n| !n.is_empty()), qname),
        };
        if local.is_empty() || local.contains(':') {
            return self.err("bad element name");
        }
        for (n, _) in &attrs {
            if let Some((p, _)) = n.split_once(':')
                && p != "xmlns"
                && p != "xml"
                && resolve(p, scopes).is_none()
            {
                return self.err(&format!("unbound prefix {p}"));
            }
        }
        let mut el = Element {
            ns,
            name: local.to_owned(),
            ..Element::default()
        };
        if self.rest().starts_with("/>") {
            self.pos += 2;
            scopes.pop();
            return Ok(el);
        }
        self.expect(">")?;
        loop {
            let r = self.rest();
            if r.is_empty() {
                return self.err(&format!("<{qname}> is not closed"));
            }
            if r.starts_with("</") {
                self.pos += 2;
                let closing = self.name()?;
                if closing != qname {
                    return self.err(&format!("</{closing}> closes <{qname}>"));
                }
                self.skip_ws();
                self.expect(">")?;
                scopes.pop();
                return Ok(el);
            } else if r.starts_with("<![CDATA[") {
                self.pos += 9;
                let t = self.until("]]>")?;
                el.text.push_str(t);
            } else if r.starts_with("<!--") || r.starts_with("<?") {
                self.misc()?;
            } else if r.starts_with("<!") {
                return self.err("declarations are not accepted");
            } else if r.starts_with('<') {
                let child = self.element(scopes, depth + 1)?;
                el.children.push(child);
            } else {
                let len = r.find('<').unwrap_or(r.len());
                let raw = &r[..len];
                if raw.contains("]]>") {
                    return self.err("\"]]>\" in text");
                }
                el.text
                    .push_str(&unescape(raw).map_err(|e| format!("{e} at byte {}", self.pos))?);
                self.pos += len;
            }
        }
    }
}

/// Text with its entity and character references replaced.
pub fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains('&') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        let end = rest.find(';').ok_or("an unterminated reference")?;
        let name = &rest[..end];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = name.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = name.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    return Err(format!("unknown entity &{name};"));
                };
                code.and_then(char::from_u32)
                    .filter(|&c| c != '\0')
                    .ok_or_else(|| format!("bad character reference &{name};"))?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Text escaped for element content or an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Parses a whole document into its root element.
pub fn parse(doc: &str) -> Result<Element, String> {
    let doc = doc.strip_prefix('\u{feff}').unwrap_or(doc);
    let mut p = Parser {
        s: doc,
        pos: 0,
        elements: 0,
    };
    if p.rest().starts_with("<?xml") {
        p.pos += 5;
        p.until("?>")?;
    }
    p.misc()?;
    if !p.rest().starts_with('<') {
        return p.err("expected the root element");
    }
    let root = p.element(&mut Vec::new(), 1)?;
    p.misc()?;
    if !p.rest().is_empty() {
        return p.err("content after the root element");
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespaces_entities_cdata_and_comments() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- hello -->
<a:Root xmlns:a="urn:a" xmlns="urn:d"><Plain>x &amp; y &#65;&#x42;</Plain>
  <a:T><![CDATA[<raw>]]></a:T><?pi stuff?><b:E xmlns:b="urn:b" b:at='1'/></a:Root>
"#;
        let r = parse(doc).unwrap();
        assert!(r.is("urn:a", "Root"));
        assert_eq!(r.child("urn:d", "Plain").unwrap().text, "x & y AB");
        assert_eq!(r.child("urn:a", "T").unwrap().text, "<raw>");
        assert!(r.child("urn:b", "E").is_some());
    }

    #[test]
    fn refuses_what_is_not_well_formed() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a x='1' x='2'/>",
            "<p:a/>",
            "<a>&nbsp;</a>",
            "<!DOCTYPE a><a/>",
            "<a/><b/>",
            "<a/>trailing",
            "<a x=1/>",
            "<a>&#0;</a>",
            "<a><!ENTITY x 'y'></a>",
            "<a>&amp</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 2) + &"</a>".repeat(MAX_DEPTH + 2);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn escaping_round_trips() {
        let t = "O'Brien & <Sons> \"x\"";
        let doc = format!("<a v=\"{}\">{}</a>", escape(t), escape(t));
        assert_eq!(parse(&doc).unwrap().text, t);
    }
}
