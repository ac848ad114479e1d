/**
 * @module
 * The query language shared by `filter=` reads, `_search` and rollup
 * `include`s (specs/search.md §2.1): text to an AST with position-qualified
 * errors and bounded length, depth and clause count, and the AST back to
 * text (`printQuery(parseQuery(q))` parses to the same AST).
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  QUERY_CHARS_MAX,
  QUERY_CLAUSES_MAX,
  QUERY_DEPTH_MAX,
} from "../limits.ts";

/** A comparison operator; `f:v` and `f:=v` both mean `=`. */
export type CompareOp = "=" | ">" | ">=" | "<" | "<=";

/** A parsed query. Field names are as written (aliases not yet resolved). */
export type QueryNode =
  | { type: "and"; children: QueryNode[] }
  | { type: "or"; children: QueryNode[] }
  | { type: "not"; child: QueryNode }
  | { type: "has"; field: string }
  | {
    type: "field";
    field: string;
    op: CompareOp;
    value: string;
    /** Written as a quoted string (a phrase on text fields). */
    quoted: boolean;
    /** Written as an unquoted word ending in `*` (the `*` is not in `value`). */
    prefix: boolean;
  }
  | { type: "term"; value: string; quoted: boolean; prefix: boolean };

type Token =
  | { t: "word"; text: string; pos: number }
  | { t: "quoted"; text: string; pos: number }
  | { t: "lparen" | "rparen" | "colon" | "minus"; pos: number }
  | { t: "op"; op: CompareOp; pos: number };

const WORD_END = /[\s:<>=()"]/;
const KEYWORDS = new Set(["and", "or", "not"]);

class QueryProblem extends Error {
  constructor(readonly position: number, message: string) {
    super(message);
  }
}

function problem(position: number, message: string): never {
  throw new QueryProblem(position, message);
}

/** Splits a query into tokens; `-` is negation only at the start of a token. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) i++;
    else if (c === "(") tokens.push({ t: "lparen", pos: i++ });
    else if (c === ")") tokens.push({ t: "rparen", pos: i++ });
    else if (c === ":") tokens.push({ t: "colon", pos: i++ });
    else if (c === "-") tokens.push({ t: "minus", pos: i++ });
    else if (c === "<" || c === ">" || c === "=") {
      const two = text[i + 1] === "=" && c !== "=";
      tokens.push({ t: "op", op: (two ? c + "=" : c) as CompareOp, pos: i });
      i += two ? 2 : 1;
    } else if (c === '"') i = quoted(text, i, tokens);
    else {
      const start = i;
      while (i < text.length && !WORD_END.test(text[i])) i++;
      tokens.push({ t: "word", text: text.slice(start, i), pos: start });
    }
  }
  return tokens;
}

function quoted(text: string, start: number, tokens: Token[]): number {
  let value = "";
  let i = start + 1;
  while (i < text.length && text[i] !== '"') {
    if (text[i] === "\\") {
      if (i + 1 >= text.length) problem(i, "backslash at end of query");
      i++;
    }
    value += text[i++];
  }
  if (i >= text.length) problem(start, "unterminated quoted string");
  tokens.push({ t: "quoted", text: value, pos: start });
  return i + 1;
}

/** Recursive descent over the tokens; one class keeps the cursor and counts. */
class Parser {
  #i = 0;
  #clauses = 0;
  constructor(readonly tokens: Token[], readonly end: number) {}

  parse(): QueryNode {
    if (this.tokens.length === 0) problem(0, "empty query");
    const node = this.or(0);
    const next = this.tokens[this.#i];
    if (next !== undefined) problem(next.pos, `unexpected ${describe(next)}`);
    return node;
  }

  #peek(): Token | undefined {
    return this.tokens[this.#i];
  }

  #keyword(token: Token | undefined, word: string): boolean {
    return token?.t === "word" && token.text.toLowerCase() === word &&
      this.tokens[this.#i + 1]?.t !== "colon";
  }

  or(depth: number): QueryNode {
    const children = [this.and(depth)];
    while (this.#keyword(this.#peek(), "or")) {
      this.#i++;
      children.push(this.and(depth));
    }
    return children.length === 1 ? children[0] : { type: "or", children };
  }

  and(depth: number): QueryNode {
    const children = [this.unary(depth)];
    for (;;) {
      const next = this.#peek();
      if (
        next === undefined || next.t === "rparen" || this.#keyword(next, "or")
      ) break;
      if (this.#keyword(next, "and")) this.#i++;
      children.push(this.unary(depth));
    }
    return children.length === 1 ? children[0] : { type: "and", children };
  }

  unary(depth: number): QueryNode {
    const token = this.#peek();
    if (token?.t === "minus" || this.#keyword(token, "not")) {
      this.#deeper(depth, token!.pos);
      this.#i++;
      return { type: "not", child: this.unary(depth + 1) };
    }
    return this.primary(depth);
  }

  #deeper(depth: number, pos: number): void {
    if (depth + 1 > QUERY_DEPTH_MAX) {
      problem(pos, `nested deeper than ${QUERY_DEPTH_MAX}`);
    }
  }

  #clause(pos: number): void {
    if (++this.#clauses > QUERY_CLAUSES_MAX) {
      problem(pos, `more than ${QUERY_CLAUSES_MAX} clauses`);
    }
  }

  primary(depth: number): QueryNode {
    const token = this.#peek();
    if (token === undefined) problem(this.end, "unexpected end of query");
    if (this.#keyword(token, "and") || this.#keyword(token, "or")) {
      problem(
        token.pos,
        `unexpected ${describe(token)} (quote it to search for it)`,
      );
    }
    this.#i++;
    if (token.t === "lparen") {
      this.#deeper(depth, token.pos);
      const node = this.or(depth + 1);
      const close = this.#peek();
      if (close?.t !== "rparen") problem(close?.pos ?? this.end, "expected )");
      this.#i++;
      return node;
    }
    if (token.t === "quoted") {
      this.#clause(token.pos);
      return { type: "term", value: token.text, quoted: true, prefix: false };
    }
    if (token.t !== "word") problem(token.pos, `unexpected ${describe(token)}`);
    this.#clause(token.pos);
    if (this.#peek()?.t !== "colon") return bareTerm(token.text, token.pos);
    this.#i++;
    if (token.text.toLowerCase() === "has") return this.#has();
    return this.#field(token.text);
  }

  #has(): QueryNode {
    const name = this.#peek();
    if (name?.t !== "word") {
      problem(name?.pos ?? this.end, "has: takes a field name");
    }
    this.#i++;
    if (name.text.endsWith("*")) problem(name.pos, "has: takes a field name");
    return { type: "has", field: name.text };
  }

  #field(field: string): QueryNode {
    let op: CompareOp = "=";
    const opToken = this.#peek();
    if (opToken?.t === "op") {
      op = opToken.op;
      this.#i++;
    }
    const value = this.#peek();
    if (value?.t === "quoted") {
      this.#i++;
      return {
        type: "field",
        field,
        op,
        value: value.text,
        quoted: true,
        prefix: false,
      };
    }
    if (value?.t !== "word") {
      problem(value?.pos ?? this.end, `expected a value for ${field}`);
    }
    this.#i++;
    const prefix = value.text.endsWith("*");
    const text = prefix ? value.text.slice(0, -1) : value.text;
    if (prefix && (text === "" || text.includes("*"))) {
      problem(value.pos, "bad prefix");
    }
    if (prefix && op !== "=") problem(value.pos, "a prefix cannot be compared");
    return { type: "field", field, op, value: text, quoted: false, prefix };
  }
}

function bareTerm(word: string, pos: number): QueryNode {
  const prefix = word.endsWith("*");
  const value = prefix ? word.slice(0, -1) : word;
  if (prefix && (value === "" || value.includes("*"))) {
    problem(pos, "bad prefix");
  }
  return { type: "term", value, quoted: false, prefix };
}

function describe(token: Token): string {
  switch (token.t) {
    case "word":
      return `"${token.text}"`;
    case "quoted":
      return "quoted string";
    case "op":
      return `"${token.op}"`;
    case "lparen":
      return '"("';
    case "rparen":
      return '")"';
    case "colon":
      return '":"';
    case "minus":
      return '"-"';
  }
}

/**
 * Parses a query. Failures are `bad_request` with `detail.position` (a
 * 0-based character index) and a message naming it.
 */
export function parseQuery(text: string): Result<QueryNode> {
  if (text.length > QUERY_CHARS_MAX) {
    return fail(
      "bad_request",
      `Invalid query: longer than ${QUERY_CHARS_MAX} characters`,
      {
        position: QUERY_CHARS_MAX,
      },
    );
  }
  try {
    return ok(new Parser(tokenize(text), text.length).parse());
  } catch (error) {
    if (!(error instanceof QueryProblem)) throw error;
    return fail(
      "bad_request",
      `Invalid query at position ${error.position}: ${error.message}`,
      {
        position: error.position,
      },
    );
  }
}

/** Whether `value` can be printed as an unquoted word and parse back as itself. */
export function isQueryWord(value: string): boolean {
  return value !== "" && !WORD_END.test(value) && !value.startsWith("-") &&
    !value.includes("*") && !KEYWORDS.has(value.toLowerCase());
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

function printValue(value: string, quoted: boolean, prefix: boolean): string {
  if (quoted) return quote(value);
  return prefix ? `${value}*` : value;
}

/** Prints an AST as query text that parses back to the same AST. */
export function printQuery(node: QueryNode): string {
  switch (node.type) {
    case "and":
      return node.children.map(printChild).join(" AND ");
    case "or":
      return node.children.map(printChild).join(" OR ");
    case "not":
      return `NOT ${printChild(node.child)}`;
    case "has":
      return `has:${node.field}`;
    case "field": {
      const op = node.op === "=" ? "" : node.op;
      return `${node.field}:${op}${
        printValue(node.value, node.quoted, node.prefix)
      }`;
    }
    case "term":
      return printValue(node.value, node.quoted, node.prefix);
  }
}

function printChild(node: QueryNode): string {
  return node.type === "and" || node.type === "or"
    ? `(${printQuery(node)})`
    : printQuery(node);
}
