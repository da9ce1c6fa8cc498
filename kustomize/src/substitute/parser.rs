//! Scanner and parser, mirroring drone/envsubst's `parse` package step for step (its scanner
//! modes and escape rules decide which texts are errors, so they are kept as they are).

use super::Error;
use super::evaluate::Node;
use crate::limits::MAX_SUBSTITUTION_DEPTH;

type Accept = fn(char, usize) -> bool;

const SCAN_IDENT: u8 = 1;
const SCAN_LBRACK: u8 = 2;
const SCAN_RBRACK: u8 = 4;
const SCAN_ESCAPE: u8 = 8;
const ESCAPE_DOLLAR: u8 = 1;
const ESCAPE_BACKSLASH: u8 = 2;

#[derive(Debug, PartialEq)]
enum Token {
    Illegal,
    Eof,
    Ident,
    Lbrack,
    Rbrack,
}

/// drone's scanner and parser over one text. drone's scanner edits its buffer (`skip` drops a
/// character); here the text is split at the cursor into the characters read (after skips) and
/// those still unread (reversed), so that a skip costs O(1) rather than moving the rest of the
/// text (quadratic over a text of many `$$`).
pub(super) struct Parser {
    read_chars: Vec<char>,
    unread_chars: Vec<char>,
    start: usize,
    width: usize,
    mode: u8,
    escapes: u8,
    accept: Accept,
    /// How many `${` are open around the cursor (at most [`MAX_SUBSTITUTION_DEPTH`]).
    depth: usize,
}

impl Parser {
    pub(super) fn new(text: &str) -> Self {
        Self {
            read_chars: Vec::new(),
            unread_chars: text.chars().rev().collect(),
            start: 0,
            width: 0,
            mode: 0,
            escapes: ESCAPE_DOLLAR,
            accept: |_, _| true,
            depth: 0,
        }
    }

    // Scanner.

    /// The cursor: how many characters have been read (skipped ones not counted).
    fn pos(&self) -> usize {
        self.read_chars.len()
    }

    fn read(&mut self) -> Option<char> {
        let c = self.unread_chars.pop();
        self.width = usize::from(c.is_some());
        self.read_chars.extend(c);
        c
    }

    fn unread(&mut self) {
        if self.width > 0
            && let Some(c) = self.read_chars.pop()
        {
            self.unread_chars.push(c);
        }
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.read();
        self.unread();
        c
    }

    /// Drops the character just read; the one after it counts as read (drone's `skip`).
    fn skip(&mut self) {
        self.read_chars.pop();
        if let Some(next) = self.unread_chars.pop() {
            self.read_chars.push(next);
        }
    }

    fn token_text(&self) -> String {
        self.read_chars[self.start..].iter().collect()
    }

    fn scan(&mut self) -> Token {
        self.start = self.pos();
        let Some(c) = self.read() else {
            return Token::Eof;
        };
        if self.scan_lbrack(c) {
            Token::Lbrack
        } else if self.scan_rbrack(c) {
            Token::Rbrack
        } else if self.scan_ident(c) {
            Token::Ident
        } else {
            Token::Illegal
        }
    }

    fn scan_ident(&mut self, first: char) -> bool {
        if self.mode & SCAN_IDENT == 0 {
            return false;
        }
        if self.scan_escaped(first) {
            self.skip();
        } else if !(self.accept)(first, self.pos() - self.start) {
            return false;
        }
        while let Some(c) = self.read() {
            if self.scan_lbrack(c) {
                self.unread();
                self.unread();
                break;
            }
            if self.scan_escaped(c) {
                self.skip();
                continue;
            }
            if !(self.accept)(c, self.pos() - self.start) {
                self.unread();
                break;
            }
        }
        true
    }

    fn scan_lbrack(&mut self, c: char) -> bool {
        if self.mode & SCAN_LBRACK == 0 || c != '$' {
            return false;
        }
        if self.read() == Some('{') {
            return true;
        }
        self.unread();
        false
    }

    fn scan_rbrack(&self, c: char) -> bool {
        self.mode & SCAN_RBRACK != 0 && c == '}'
    }

    fn scan_escaped(&mut self, c: char) -> bool {
        if self.mode & SCAN_ESCAPE == 0 {
            return false;
        }
        match c {
            '$' if self.escapes & ESCAPE_DOLLAR != 0 => self.peek() == Some('$'),
            '\\' if self.escapes & ESCAPE_BACKSLASH != 0 => {
                matches!(self.peek(), Some('/' | '\\'))
            }
            _ => false,
        }
    }

    /// Scans one token with `accept` and `mode` and returns its text if it is an identifier.
    fn scan_ident_with(&mut self, accept: Accept, mode: u8) -> Option<String> {
        self.accept = accept;
        self.mode = mode;
        (self.scan() == Token::Ident).then(|| self.token_text())
    }

    // Parser.

    pub(super) fn parse_all(mut self) -> Result<Vec<Node>, Error> {
        let mut nodes = Vec::new();
        loop {
            self.accept = |_, _| true;
            self.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE;
            self.escapes = ESCAPE_DOLLAR;
            match self.scan() {
                Token::Ident => nodes.push(Node::Text(self.token_text())),
                Token::Lbrack => nodes.push(self.parse_func()?),
                Token::Eof => return Ok(nodes),
                Token::Illegal | Token::Rbrack => return Err(Error::BadSubstitution),
            }
        }
    }

    /// Parses one `${...}` (its `${` read), refusing ([`Error::Limit`]) one nested deeper than
    /// [`MAX_SUBSTITUTION_DEPTH`] inside others: parsing and evaluation recurse once per level.
    fn parse_func(&mut self) -> Result<Node, Error> {
        if self.depth >= MAX_SUBSTITUTION_DEPTH {
            return Err(Error::Limit(format!(
                "`${{...}}` nests deeper than {MAX_SUBSTITUTION_DEPTH} levels; refused by sluice_kustomize::limits::MAX_SUBSTITUTION_DEPTH"
            )));
        }
        self.depth += 1;
        let node = self.parse_func_body();
        self.depth -= 1;
        node
    }

    fn parse_func_body(&mut self) -> Result<Node, Error> {
        self.escapes = ESCAPE_DOLLAR | ESCAPE_BACKSLASH;
        if self.peek() == Some('#') {
            return self.parse_len_func();
        }
        let param = self
            .scan_ident_with(accept_ident, SCAN_IDENT)
            .ok_or(Error::ParseVariableName)?;
        match self.peek() {
            Some(':') => return self.parse_default_or_substr(param),
            Some('=') => return self.parse_default_func(param),
            Some(',' | '^') => return self.parse_casing_func(param),
            Some('/') => return self.parse_replace_func(param),
            Some('#') => return self.parse_remove_func(param, |c, i| c == '#' && i < 3),
            Some('%') => return self.parse_remove_func(param, |c, i| c == '%' && i < 3),
            _ => {}
        }
        self.accept = accept_ident;
        self.mode = SCAN_RBRACK;
        match self.scan() {
            Token::Rbrack => Ok(func(param, String::new(), Vec::new())),
            _ => Err(Error::MissingClosingBrace),
        }
    }

    fn parse_param(&mut self, accept: Accept, mode: u8) -> Result<Node, Error> {
        self.accept = accept;
        self.mode = mode | SCAN_LBRACK;
        match self.scan() {
            Token::Lbrack => self.parse_func(),
            Token::Ident | Token::Rbrack => Ok(Node::Text(self.token_text())),
            Token::Eof | Token::Illegal => Err(Error::ParseFuncSubstitution),
        }
    }

    fn parse_default_or_substr(&mut self, param: String) -> Result<Node, Error> {
        self.read();
        let next = self.peek();
        self.unread();
        match next {
            Some('=' | '-' | '?' | '+') => self.parse_default_func(param),
            _ => self.parse_substr_func(param),
        }
    }

    fn parse_substr_func(&mut self, param: String) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(|c, i| i == 1 && c == ':', SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        let mut args = vec![self.parse_param(|c, _| c != ':' && c != '}', SCAN_IDENT)?];
        self.accept = |c, _| c == ':';
        self.mode = SCAN_IDENT | SCAN_RBRACK;
        match self.scan() {
            Token::Rbrack => return Ok(func(param, op, args)),
            Token::Ident => {}
            _ => return Err(Error::BadSubstitution),
        }
        args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        self.consume_rbrack()?;
        Ok(func(param, op, args))
    }

    fn parse_remove_func(&mut self, param: String, accept: Accept) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(accept, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        let args = vec![self.parse_param(accept_not_closing, SCAN_IDENT)?];
        self.consume_rbrack()?;
        Ok(func(param, op, args))
    }

    fn parse_replace_func(&mut self, param: String) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(accept_replace_op, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        let pattern = if self.peek() == Some('/') {
            Node::Text(String::new())
        } else {
            self.parse_param(|c, _| c != '/', SCAN_IDENT | SCAN_ESCAPE)?
        };
        let mut args = vec![pattern];
        self.scan_ident_with(|c, _| c == '/', SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        if self.peek() != Some('}') {
            args.push(self.parse_param(accept_not_closing, SCAN_IDENT | SCAN_ESCAPE)?);
        }
        self.consume_rbrack()?;
        Ok(func(param, op, args))
    }

    fn parse_default_func(&mut self, param: String) -> Result<Node, Error> {
        let accept: Accept = if self.peek() == Some('=') {
            |c, i| i == 1 && c == '='
        } else {
            accept_default_op
        };
        let op = self
            .scan_ident_with(accept, SCAN_IDENT)
            .ok_or(Error::ParseDefaultFunction)?;
        let mut args = Vec::new();
        while self.peek() != Some('}') {
            args.push(self.parse_param(accept_not_closing, SCAN_IDENT)?);
        }
        self.consume_rbrack()?;
        Ok(func(param, op, args))
    }

    fn parse_casing_func(&mut self, param: String) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(|c, i| (c == ',' || c == '^') && i < 3, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(func(param, op, Vec::new()))
    }

    fn parse_len_func(&mut self) -> Result<Node, Error> {
        let op = self
            .scan_ident_with(|c, i| c == '#' && i == 1, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        let param = self
            .scan_ident_with(accept_ident, SCAN_IDENT)
            .ok_or(Error::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(func(param, op, Vec::new()))
    }

    fn consume_rbrack(&mut self) -> Result<(), Error> {
        self.mode = SCAN_RBRACK;
        match self.scan() {
            Token::Rbrack => Ok(()),
            _ => Err(Error::BadSubstitution),
        }
    }
}

fn func(param: String, op: String, args: Vec<Node>) -> Node {
    Node::Func { param, op, args }
}

fn accept_ident(c: char, _: usize) -> bool {
    c.is_alphabetic() || c.is_numeric() || c == '_'
}

fn accept_not_closing(c: char, _: usize) -> bool {
    c != '}'
}

fn accept_default_op(c: char, i: usize) -> bool {
    (i == 1 && c == ':') || (i == 2 && matches!(c, '=' | '-' | '?' | '+'))
}

fn accept_replace_op(c: char, i: usize) -> bool {
    (i == 1 && c == '/') || (i == 2 && matches!(c, '/' | '#' | '%'))
}
