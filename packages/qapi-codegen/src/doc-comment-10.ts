// QEMU 10.0's documentation comment parser (scripts/qapi/parser.py, get_doc and QAPIDoc). 10.0
// reads a comment block line by line with lookahead, where 7.2 fed lines to a state machine:
// a definition doc is a symbol line, then paragraphs, `@name:` descriptions, a `Features:`
// block and tagged sections (`Returns:`, `Errors:`, `Since:`, `TODO:`); `Note:` and `Example:`
// are errors now. Indentation continues a description; section texts keep it. A free-form block
// is one body, and a `=` heading must open it. It fills the same QapiDoc the 7.2 parser fills.

import type { QapiSchemaError } from './errors.js';
import { DocSection, QapiDoc } from './qapi-doc.js';
import { type Pos, type PragmaState, schemaError, type Tok } from './source.js';

/** What the doc parser needs from the file parser: its tokens, positions and errors. */
export interface DocLexer {
  token(): Tok;
  tokenValue(): string | boolean | undefined;
  /** The current `#` line's length, its character code at `index`, its text from `from` on. */
  commentLength(): number;
  commentCharCode(index: number): number;
  commentText(from: number): string;
  /** Moves to the next token; with `skipComment` false a `#` line is a token. */
  advance(skipComment: boolean): void;
  here(): Pos;
  error(rule: string, reason: string): QapiSchemaError;
}

/** Section kinds as 10.0 prints them (`QAPIDoc.Kind`, title-cased). */
const TAGGED = /^(Returns|Errors|Since|Notes?|Examples?|TODO)(?!::): */;

// The helpers below run on every comment line (about 25,000 in QEMU's schema): each looks at
// the first characters before running its regular expression, which most lines fail at once.

/** For a line opening with `@name:`, the index of the colon after the name; else -1. */
function nameColon(line: string): number {
  return line.charCodeAt(0) === 64 /* @ */ ? line.indexOf(':') : -1;
}

/** A tagged section's opening (the tag in group 1), or null. */
function taggedSection(line: string): RegExpExecArray | null {
  switch (line.charCodeAt(0)) {
    case 69 /* E */:
    case 78 /* N */:
    case 82 /* R */:
    case 83 /* S */:
    case 84 /* T */:
      return TAGGED.exec(line);
    default:
      return null;
  }
}

/** How many whitespace characters (as `\s` counts them) start `line`. */
function indentOf(line: string): number {
  let i = 0;
  while (line.charCodeAt(i) === 32) i++;
  const c = line.charCodeAt(i);
  // Past the spaces: anything but another ASCII space character or a non-ASCII one ends it.
  if (Number.isNaN(c) || (c > 32 && c < 128) || (c < 32 && (c < 9 || c > 13))) return i;
  return /^\s*/.exec(line)?.[0].length ?? 0;
}

/** `text` without leading and trailing newlines (QAPIDoc.end's strip('\n')). */
function stripNewlines(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === 10) start++;
  while (end > start && text.charCodeAt(end - 1) === 10) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** The 10.0 section kind name of a section (`Plain` for untagged, `Todo` for `TODO`). */
export function docSectionKind(name: string | undefined): string {
  if (name === undefined) return 'Plain';
  return name.charAt(0).toUpperCase() + name.slice(1).toLowerCase();
}

/** A QapiDoc being filled the way 10.0's QAPIDoc is (its all_sections list in textual order). */
class DocBuilder {
  readonly doc: QapiDoc;
  /** Every section in textual order; the first is the body. */
  readonly all: DocSection[];
  /** The kind of each section of `all`, at the same index (member and feature sections too). */
  private readonly kinds: string[] = ['Plain'];
  /**
   * Each section's text so far, at the same index as `all`: lines and newlines, joined once at
   * the end (appending to a string makes one rope node per line, which the GC then carries).
   */
  private readonly texts: string[][] = [[]];

  constructor(info: Pos, symbol: string | undefined) {
    this.doc = new QapiDoc(undefined, info);
    this.doc.symbol = symbol;
    this.doc.body.info = info;
    this.all = [this.doc.body];
  }

  appendLine(line: string): void {
    (this.texts[this.texts.length - 1] as string[]).push(line, '\n');
  }

  ensureUntaggedSection(info: Pos): void {
    if (this.kinds[this.kinds.length - 1] === 'Plain') {
      const text = this.texts[this.texts.length - 1] as string[];
      if (text.length === 0) (this.all[this.all.length - 1] as DocSection).info = info;
      text.push('\n');
      return;
    }
    this.addSection(new DocSection(undefined, 0, info), 'Plain');
  }

  newTaggedSection(info: Pos, tag: string): void {
    const section = new DocSection(tag, 0, info);
    if ((tag === 'Returns' || tag === 'Errors' || tag === 'Since') && this.doc.section(tag)) {
      throw schemaError(info, 'doc-duplicate', `duplicated '${tag}' section`);
    }
    this.addSection(section, docSectionKind(tag));
  }

  newDescription(info: Pos, name: string, features: boolean): void {
    const dict = features ? this.doc.features : this.doc.args;
    if (name === '') throw schemaError(info, 'doc-syntax', 'invalid parameter name');
    if (dict.has(name)) {
      throw schemaError(info, 'doc-duplicate', `'${name}' parameter name duplicated`);
    }
    const section = new DocSection(name, 0, info);
    this.all.push(section);
    this.kinds.push(features ? 'Feature' : 'Member');
    this.texts.push([]);
    dict.set(name, section);
  }

  private addSection(section: DocSection, kind: string): void {
    this.doc.sections.push(section);
    this.all.push(section);
    this.kinds.push(kind);
    this.texts.push([]);
  }

  /** QAPIDoc.end(): section texts lose their surrounding newlines; tagged ones need text. */
  end(): QapiDoc {
    for (let i = 0; i < this.all.length; i++) {
      const section = this.all[i] as DocSection;
      section.text = stripNewlines((this.texts[i] as string[]).join(''));
      const kind = this.kinds[i] as string;
      if (kind !== 'Plain' && section.text === '') {
        throw schemaError(section.info, 'doc-empty-section', `text required after '${kind}:'`);
      }
    }
    return this.doc;
  }
}

class DocCommentParser {
  constructor(private readonly lexer: DocLexer) {}

  /** The current comment line without `# `; undefined at the closing `##`. */
  line(): string | undefined {
    const lx = this.lexer;
    if (lx.token() !== '#') {
      throw lx.error('doc-syntax', "documentation comment must end with '##'");
    }
    // Read in place: only the text after `# ` is sliced from the file.
    const length = lx.commentLength();
    if (length === 1) return '';
    const second = lx.commentCharCode(1);
    if (second === 35 /* # */) {
      if (length !== 2) {
        throw lx.error('doc-syntax', "junk after '##' at end of documentation comment");
      }
      return undefined;
    }
    if (second !== 32) throw lx.error('doc-syntax', 'missing space after #');
    return lx.commentText(2).trimEnd();
  }

  next(): string | undefined {
    this.lexer.advance(false);
    return this.line();
  }

  /** The continuation lines of a description or tagged section (get_doc_indented). */
  indented(b: DocBuilder): string | undefined {
    let line = this.next();
    while (line === '') {
      b.appendLine(line);
      line = this.next();
    }
    if (line === undefined) return line;
    const indent = indentOf(line);
    if (indent === 0) return line;
    b.appendLine(line);
    // QEMU sets this after the first continuation line whatever that line was, so a de-indent
    // is an error only right after the first line.
    let prevLineBlank = false;
    for (;;) {
      line = this.next();
      if (line === undefined) return line;
      if (nameColon(line) > 0) return line;
      if (line !== '' && indentOf(line) < indent) {
        if (prevLineBlank) return line;
        throw this.lexer.error(
          'doc-indent',
          `unexpected de-indent (expected at least ${indent} spaces)`,
        );
      }
      b.appendLine(line);
      prevLineBlank = true;
    }
  }

  /** A plain paragraph, up to a blank line or the end (get_doc_paragraph). */
  paragraph(b: DocBuilder): string | undefined {
    for (;;) {
      const line = this.next();
      if (line === undefined || line === '') return line;
      b.appendLine(line);
    }
  }

  /** `@name: text` lines and their continuations, while they come. */
  descriptions(b: DocBuilder, first: string | undefined, features: boolean): string | undefined {
    let line = first;
    for (;;) {
      const colon = line === undefined ? -1 : nameColon(line);
      if (colon < 0 || line === undefined) return line;
      b.newDescription(this.lexer.here(), line.slice(1, colon), features);
      let start = colon + 1;
      while (line.charCodeAt(start) === 32) start++;
      const text = line.slice(start);
      if (text !== '') b.appendLine(text);
      line = this.indented(b);
    }
  }

  definition(info: Pos, first: string): QapiDoc {
    const lx = this.lexer;
    if (!first.endsWith(':')) throw lx.error('doc-syntax', "line should end with ':'");
    const symbol = first.slice(1, -1);
    if (symbol === '') throw lx.error('doc-syntax', "name required after '@'");
    const b = new DocBuilder(info, symbol);
    let line = this.next();
    let noMoreArgs = false;
    while (line !== undefined) {
      while (line === '') line = this.next();
      if (line === undefined) break;
      const described = nameColon(line);
      const tagged = taggedSection(line);
      if (line === 'Features:') {
        if (b.doc.features.size > 0) throw lx.error('doc-syntax', "duplicated 'Features:' line");
        line = this.next();
        while (line === '') line = this.next();
        line = this.descriptions(b, line, true);
        if (b.doc.features.size === 0)
          throw lx.error('doc-syntax', 'feature descriptions expected');
        noMoreArgs = true;
      } else if (described > 0) {
        if (noMoreArgs) {
          throw lx.error(
            'doc-section-order',
            `description of '@${line.slice(1, described)}:' follows a section`,
          );
        }
        line = this.descriptions(b, line, false);
        noMoreArgs = true;
      } else if (tagged) {
        const tag = tagged[1] as string;
        if (tag.includes('Note')) {
          throw lx.error(
            'doc-obsolete-section',
            `The '${tag}' section is no longer supported. Please use rST's '.. note::' or ` +
              "'.. admonition:: notes' directives, or another suitable admonition instead.",
          );
        }
        if (tag.includes('Example')) {
          throw lx.error(
            'doc-obsolete-section',
            `The '${tag}' section is no longer supported. Please use the '.. qmp-example::' ` +
              'directive, or other suitable markup instead.',
          );
        }
        b.newTaggedSection(lx.here(), tag);
        const text = line.slice(tagged[0].length);
        if (text !== '') b.appendLine(text);
        line = this.indented(b);
        noMoreArgs = true;
      } else if (line.startsWith('=')) {
        throw lx.error('doc-syntax', "unexpected '=' markup in definition documentation");
      } else {
        b.ensureUntaggedSection(lx.here());
        b.appendLine(line);
        line = this.paragraph(b);
      }
    }
    return this.finish(b);
  }

  freeForm(info: Pos, first: string | undefined): QapiDoc {
    const lx = this.lexer;
    const b = new DocBuilder(info, undefined);
    b.ensureUntaggedSection(lx.here());
    let line = first;
    let isFirst = true;
    while (line !== undefined) {
      const colon = nameColon(line);
      if (colon > 0) {
        throw lx.error(
          'doc-syntax',
          `'@${line.slice(1, colon)}:' not allowed in free-form documentation`,
        );
      }
      if (line.startsWith('=') && !isFirst) {
        throw lx.error('doc-syntax', "'=' heading must come first in a comment block");
      }
      b.appendLine(line);
      line = this.next();
      isFirst = false;
    }
    return this.finish(b);
  }

  finish(b: DocBuilder): QapiDoc {
    this.lexer.advance(true);
    return b.end();
  }
}

/** Parses the doc comment block at the lexer's `##` token, up to and past the closing `##`. */
export function parseDocComment(lexer: DocLexer, pragma: PragmaState): QapiDoc {
  if (lexer.tokenValue() !== '##') {
    throw lexer.error('doc-syntax', "junk after '##' at start of documentation comment");
  }
  const info = lexer.here();
  const p = new DocCommentParser(lexer);
  const first = p.next();
  const doc = first?.startsWith('@') ? p.definition(info, first) : p.freeForm(info, first);
  doc.qemu10Pragma = pragma;
  return doc;
}
