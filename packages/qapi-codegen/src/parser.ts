// The QAPI schema-file parser: lexer, expression parser, `include` and `pragma`; doc comment
// blocks go to qapi-doc.ts (7.2's line parser) or doc-comment-10.ts (10.0's). It follows QEMU
// 7.2's scripts/qapi/parser.py (same accepted language, same error texts and positions) and
// produces raw expressions for the expression checker (expr.ts). With the QEMU 10.0 front end
// it follows 10.0's parser.py instead: one more pragma and a slightly different stray-token
// message.

import { type DocLexer, parseDocComment } from './doc-comment-10.js';
import { QapiSchemaError } from './errors.js';
import type { QapiFrontEnd } from './front-end.js';
import { QapiDoc } from './qapi-doc.js';
import {
  Pos,
  type PragmaState,
  type QObject,
  type QValue,
  schemaError,
  type Tok,
} from './source.js';

/** Limits that keep hostile input from exhausting memory or the stack. */
export const PARSER_LIMITS = {
  /** Largest accepted schema file, in characters. */
  maxFileChars: 16 * 1024 * 1024,
  /** Deepest nesting of objects and arrays. */
  maxNesting: 200,
  /** Most schema files one schema may read. */
  maxFiles: 4096,
} as const;

export interface ParsedExpr {
  readonly expr: QObject;
  readonly info: Pos;
  readonly doc?: QapiDoc;
}

// ---------------------------------------------------------------------------------------------
// Tiny POSIX path helpers (the core stays free of node:path).

export function posixDirname(path: string): string {
  const i = path.lastIndexOf('/');
  if (i < 0) return '';
  if (i === 0) return '/';
  return path.slice(0, i);
}

/** Like Python's os.path.join(a, b): an absolute b wins. */
export function posixJoin(dir: string, file: string): string {
  if (file.startsWith('/') || dir === '') return file;
  return dir.endsWith('/') ? dir + file : `${dir}/${file}`;
}

/** Normalises `.`, `..` and repeated slashes (lexically, like Python's os.path.normpath). */
export function posixNormalize(path: string): string {
  const absolute = path.startsWith('/');
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const joined = out.join('/');
  if (absolute) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Like Python's os.path.relpath(path, start) for paths relative to the same directory. */
export function posixRelative(start: string, path: string): string {
  const from = posixNormalize(start)
    .split('/')
    .filter((s) => s !== '.');
  const to = posixNormalize(path)
    .split('/')
    .filter((s) => s !== '.');
  let common = 0;
  while (common < from.length && common < to.length && from[common] === to[common]) common++;
  const up = from.slice(common);
  if (up.includes('..')) return posixNormalize(path);
  const rel = [...up.map(() => '..'), ...to.slice(common)].join('/');
  return rel === '' ? '.' : rel;
}

// ---------------------------------------------------------------------------------------------
// The file parser.

export interface ParseContext {
  readonly readFile: (path: string) => string;
  /** Normalised names of the files read so far (each file is parsed once). */
  readonly included: Set<string>;
  readonly pragma: PragmaState;
  readonly exprs: ParsedExpr[];
  readonly docs: QapiDoc[];
  /** Whose front-end rules apply. */
  readonly qemu: QapiFrontEnd;
}

export class SchemaFileParser implements DocLexer {
  private src = '';
  private tok: Tok = null;
  private val: string | boolean | undefined;
  private pos = 0;
  private cursor = 0;
  private line = 1;
  private lineStart = 0;
  private depth = 0;

  constructor(
    readonly file: string,
    private readonly parent: Pos | undefined,
    private readonly ctx: ParseContext,
  ) {}

  /** The current token's position. */
  here(): Pos {
    let col = 1;
    for (let i = this.lineStart; i < this.pos; i++) {
      col = this.src.charCodeAt(i) === 9 ? ((col + 7) % 8) + 1 : col + 1;
    }
    return new Pos(this.file, this.line, col, this.parent);
  }

  error(rule: string, reason: string): QapiSchemaError {
    return schemaError(this.here(), rule, reason);
  }

  /** Parses the file, appending its expressions and docs (and those of its includes). */
  parse(source: string): void {
    if (source.length > PARSER_LIMITS.maxFileChars) {
      throw schemaError(
        new Pos(this.file, 1, 1, this.parent),
        'file-too-large',
        `file is larger than ${PARSER_LIMITS.maxFileChars} characters`,
      );
    }
    this.src = source.endsWith('\n') ? source : `${source}\n`;
    this.ctx.included.add(posixNormalize(this.file));
    let curDoc: QapiDoc | undefined;
    this.accept();
    while (this.tok !== null) {
      const info = this.here();
      if (this.tok === '#') {
        rejectExprDoc(curDoc);
        const docs =
          this.ctx.qemu === '7.2' ? this.getDoc(info) : [parseDocComment(this, this.ctx.pragma)];
        for (const doc of docs) {
          this.ctx.docs.push(doc);
          curDoc = doc;
        }
        continue;
      }
      const expr = this.getExpr();
      if (!(expr instanceof Map)) {
        throw schemaError(info, 'top-level-not-object', 'top-level expression must be an object');
      }
      if (expr.has('include')) {
        rejectExprDoc(curDoc);
        if (expr.size !== 1) {
          throw schemaError(info, 'include-directive', "invalid 'include' directive");
        }
        const include = expr.get('include');
        if (typeof include !== 'string') {
          throw schemaError(info, 'include-directive', "value of 'include' must be a string");
        }
        const inclFile = posixJoin(posixDirname(this.file), include);
        this.ctx.exprs.push({ expr: new Map([['include', inclFile]]), info });
        this.include(include, info, inclFile);
      } else if (expr.has('pragma')) {
        rejectExprDoc(curDoc);
        if (expr.size !== 1) {
          throw schemaError(info, 'pragma-directive', "invalid 'pragma' directive");
        }
        const pragma = expr.get('pragma');
        if (!(pragma instanceof Map)) {
          throw schemaError(info, 'pragma-directive', "value of 'pragma' must be an object");
        }
        for (const [name, value] of pragma) this.setPragma(name, value, info);
      } else {
        if (curDoc) {
          if (curDoc.symbol === undefined) {
            throw schemaError(curDoc.info, 'doc-symbol', 'definition documentation required');
          }
          this.ctx.exprs.push({ expr, info, doc: curDoc });
        } else {
          this.ctx.exprs.push({ expr, info });
        }
      }
      curDoc = undefined;
    }
    rejectExprDoc(curDoc);
  }

  private include(include: string, info: Pos, inclFile: string): void {
    const key = posixNormalize(inclFile);
    for (let p: Pos | undefined = info; p; p = p.parent) {
      if (posixNormalize(p.file) === key) {
        throw schemaError(info, 'include-loop', `inclusion loop for ${include}`);
      }
    }
    if (this.ctx.included.has(key)) return;
    if (this.ctx.included.size >= PARSER_LIMITS.maxFiles) {
      throw schemaError(info, 'too-many-files', `more than ${PARSER_LIMITS.maxFiles} files`);
    }
    let source: string;
    try {
      source = this.ctx.readFile(inclFile);
    } catch (err) {
      throw new QapiSchemaError(
        info.toInfo(),
        'include-unreadable',
        `can't read include file '${inclFile}': ${describeReadError(err)}`,
        { cause: err, includedFrom: info.includedFrom() },
      );
    }
    new SchemaFileParser(inclFile, info, this.ctx).parse(source);
  }

  private setPragma(name: string, value: QValue, info: Pos): void {
    const listOfStrings = (): string[] => {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
        throw schemaError(info, 'pragma-value', `pragma ${name} must be a list of strings`);
      }
      return value as string[];
    };
    const pragma = this.ctx.pragma;
    switch (name) {
      case 'doc-required':
        if (typeof value !== 'boolean') {
          throw schemaError(info, 'pragma-value', "pragma 'doc-required' must be boolean");
        }
        pragma.docRequired = value;
        break;
      case 'command-name-exceptions':
        pragma.commandNameExceptions = listOfStrings();
        break;
      case 'command-returns-exceptions':
        pragma.commandReturnsExceptions = listOfStrings();
        break;
      case 'member-name-exceptions':
        pragma.memberNameExceptions = listOfStrings();
        break;
      case 'documentation-exceptions':
        if (this.ctx.qemu === '7.2') {
          throw schemaError(info, 'unknown-pragma', `unknown pragma '${name}'`);
        }
        pragma.documentationExceptions = listOfStrings();
        break;
      default:
        throw schemaError(info, 'unknown-pragma', `unknown pragma '${name}'`);
    }
  }

  // --- lexer ---------------------------------------------------------------------------------

  // DocLexer, for the QEMU 10.0 doc comment parser.
  token(): Tok {
    return this.tok;
  }

  tokenValue(): string | boolean | undefined {
    // A comment line is sliced only when asked for whole: the 10.0 doc parser reads its text.
    return this.tok === '#' ? this.src.slice(this.pos, this.cursor) : this.val;
  }

  commentLength(): number {
    return this.cursor - this.pos;
  }

  commentCharCode(index: number): number {
    return this.src.charCodeAt(this.pos + index);
  }

  commentText(from: number): string {
    return this.src.slice(this.pos + from, this.cursor);
  }

  advance(skipComment: boolean): void {
    this.accept(skipComment);
  }

  private accept(skipComment = true): void {
    const src = this.src;
    for (;;) {
      const ch = src[this.cursor] as string;
      this.pos = this.cursor;
      this.cursor++;
      this.val = undefined;
      if (ch === '#') {
        if (src[this.cursor] === '#') skipComment = false; // a doc comment line
        this.cursor = src.indexOf('\n', this.cursor);
        if (!skipComment) {
          this.tok = '#'; // its text is src[pos, cursor), read through the comment methods
          return;
        }
      } else if (ch === '{' || ch === '}' || ch === ':' || ch === ',' || ch === '[' || ch === ']') {
        this.tok = ch;
        return;
      } else if (ch === "'") {
        this.tok = "'";
        this.val = this.lexString();
        return;
      } else if (ch === ' ') {
        // The commonest character (indentation): skip the whole run at once.
        while (src.charCodeAt(this.cursor) === 32) this.cursor++;
      } else if (ch === 't' && src.startsWith('true', this.pos)) {
        this.tok = 't';
        this.val = true;
        this.cursor += 3;
        return;
      } else if (ch === 'f' && src.startsWith('false', this.pos)) {
        this.tok = 'f';
        this.val = false;
        this.cursor += 4;
        return;
      } else if (ch === '\n') {
        if (this.cursor === src.length) {
          this.tok = null;
          return;
        }
        this.line++;
        this.lineStart = this.cursor;
      } else if (!/\s/.test(ch)) {
        // Up to the next structural, space or quote character; 10.0 no longer stops at '"'.
        const stop = this.ctx.qemu === '7.2' ? /^[^[\]{}:,\s'"]*/ : /^[^[\]{}:,\s']*/;
        const word = stop.exec(src.slice(this.pos, this.pos + 200))?.[0] || ch;
        throw this.error('stray-token', `stray '${word}'`);
      }
    }
  }

  /** Lexes a string's body; `cursor` is just past the opening quote. Printable ASCII only. */
  private lexString(): string {
    const src = this.src;
    let out = '';
    let runStart = this.cursor;
    for (;;) {
      const c = src.charCodeAt(this.cursor);
      if (c >= 32 && c < 127 && c !== 39 && c !== 92) {
        this.cursor++;
        continue;
      }
      out += src.slice(runStart, this.cursor);
      this.cursor++;
      if (c === 10) throw this.error('unterminated-string', `missing terminating "'"`);
      if (c === 39) return out;
      if (c === 92) {
        const next = src[this.cursor] as string;
        this.cursor++;
        if (next === '\n') throw this.error('unterminated-string', `missing terminating "'"`);
        if (next !== '\\') throw this.error('unknown-escape', `unknown escape \\${next}`);
        out += '\\';
      } else {
        throw this.error('bad-string-char', 'funny character in string');
      }
      runStart = this.cursor;
    }
  }

  // --- grammar -------------------------------------------------------------------------------

  /** The current token (a method, so that type narrowing does not survive accept()). */
  private peek(): Tok {
    return this.tok;
  }

  private getMembers(): QObject {
    const obj: QObject = new Map();
    if (this.peek() === '}') {
      this.accept();
      return obj;
    }
    if (this.peek() !== "'") throw this.error('syntax', "expected string or '}'");
    for (;;) {
      const key = this.val as string;
      this.accept();
      if (this.peek() !== ':') throw this.error('syntax', "expected ':'");
      this.accept();
      if (obj.has(key)) throw this.error('duplicate-key', `duplicate key '${key}'`);
      obj.set(key, this.getExpr());
      if (this.peek() === '}') {
        this.accept();
        return obj;
      }
      if (this.peek() !== ',') throw this.error('syntax', "expected ',' or '}'");
      this.accept();
      if (this.peek() !== "'") throw this.error('syntax', 'expected string');
    }
  }

  private getValues(): QValue[] {
    const list: QValue[] = [];
    if (this.peek() === ']') {
      this.accept();
      return list;
    }
    if (
      !(
        this.peek() === '{' ||
        this.peek() === '[' ||
        this.peek() === "'" ||
        this.peek() === 't' ||
        this.peek() === 'f'
      )
    ) {
      throw this.error('syntax', "expected '{', '[', ']', string, or boolean");
    }
    for (;;) {
      list.push(this.getExpr());
      if (this.peek() === ']') {
        this.accept();
        return list;
      }
      if (this.peek() !== ',') throw this.error('syntax', "expected ',' or ']'");
      this.accept();
    }
  }

  private getExpr(): QValue {
    if (this.peek() === '{' || this.peek() === '[') {
      if (++this.depth > PARSER_LIMITS.maxNesting) {
        throw this.error('too-deep', `nesting deeper than ${PARSER_LIMITS.maxNesting}`);
      }
      const open = this.peek();
      this.accept();
      const value = open === '{' ? this.getMembers() : this.getValues();
      this.depth--;
      return value;
    }
    if (this.peek() === "'" || this.peek() === 't' || this.peek() === 'f') {
      const value = this.val as string | boolean;
      this.accept();
      return value;
    }
    throw this.error('syntax', "expected '{', '[', string, or boolean");
  }

  private getDoc(info: Pos): QapiDoc[] {
    if (this.tokenValue() !== '##') {
      throw this.error('doc-syntax', "junk after '##' at start of documentation comment");
    }
    const docs: QapiDoc[] = [];
    let cur = new QapiDoc(this, info);
    this.accept(false);
    while (this.peek() === '#') {
      const text = this.tokenValue() as string;
      if (text.startsWith('##')) {
        if (text !== '##') {
          throw this.error('doc-syntax', "junk after '##' at end of documentation comment");
        }
        cur.endComment();
        docs.push(cur);
        this.accept();
        return docs;
      }
      if (text.startsWith('# =')) {
        if (cur.symbol !== undefined) {
          throw this.error('doc-syntax', "unexpected '=' markup in definition documentation");
        }
        if (cur.body.text !== '') {
          cur.endComment();
          docs.push(cur);
          cur = new QapiDoc(this, info);
        }
      }
      cur.append(text);
      this.accept(false);
    }
    throw this.error('doc-syntax', "documentation comment must end with '##'");
  }
}

function rejectExprDoc(doc: QapiDoc | undefined): void {
  if (doc?.symbol !== undefined) {
    throw schemaError(
      doc.info,
      'doc-not-followed',
      `documentation for '${doc.symbol}' is not followed by the definition`,
    );
  }
}

function describeReadError(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT') return 'No such file or directory';
    if (code === 'EISDIR') return 'Is a directory';
    if (code === 'EACCES') return 'Permission denied';
    const message = (err as { message?: unknown }).message;
    if (typeof message === 'string') return message;
  }
  return String(err);
}

export interface ParsedSchemaFiles {
  readonly exprs: ParsedExpr[];
  readonly docs: QapiDoc[];
  readonly pragma: PragmaState;
  readonly qemu: QapiFrontEnd;
}

/**
 * Parses `rootFile` and everything it includes. `readFile` returns a file's text and throws
 * (e.g. a Node `ENOENT` error) when it cannot.
 */
export function parseSchemaFiles(
  rootFile: string,
  readFile: (path: string) => string,
  qemu: QapiFrontEnd = '7.2',
): ParsedSchemaFiles {
  const ctx: ParseContext = {
    readFile,
    included: new Set(),
    pragma: {
      docRequired: false,
      commandNameExceptions: [],
      commandReturnsExceptions: [],
      memberNameExceptions: [],
      documentationExceptions: [],
    },
    exprs: [],
    docs: [],
    qemu,
  };
  let source: string;
  try {
    source = readFile(rootFile);
  } catch (err) {
    throw new QapiSchemaError(
      undefined,
      'schema-unreadable',
      `can't read schema file '${rootFile}': ${describeReadError(err)}`,
      { cause: err, file: rootFile },
    );
  }
  new SchemaFileParser(rootFile, undefined, ctx).parse(source);
  return { exprs: ctx.exprs, docs: ctx.docs, pragma: ctx.pragma, qemu };
}
