// Documentation comments: QEMU's QAPIDoc (scripts/qapi/parser.py) with its sections, and 7.2's
// line-by-line state machine that fills it. QEMU 10.0's parser (doc-comment-10.ts) fills the
// same QapiDoc.

import type { QapiSchemaError } from './errors.js';
import type { Pos, PragmaState } from './source.js';

/** Where a 7.2 doc comment's errors are raised: the file parser reading it. */
export interface DocErrorSink {
  error(rule: string, reason: string): QapiSchemaError;
}

export class DocSection {
  text = '';
  /** For member and feature sections: whether a schema member was connected to it. */
  connected = false;

  constructor(
    readonly name: string | undefined,
    readonly indent = 0,
    /** Where the section starts (QEMU 10.0 reports section errors there). */
    public info: Pos | undefined = undefined,
  ) {}
}

type LineMode = 'body' | 'args' | 'features' | 'various';

const SECTION_TAGS = new Set([
  'Returns:',
  'Since:',
  'Note:',
  'Notes:',
  'Example:',
  'Examples:',
  'TODO:',
]);

/** A documentation comment block: free-form (no symbol) or definition documentation. */
export class QapiDoc {
  symbol: string | undefined;
  readonly body = new DocSection(undefined);
  readonly args = new Map<string, DocSection>();
  readonly features = new Map<string, DocSection>();
  readonly sections: DocSection[] = [];
  /**
   * Set on docs the QEMU 10.0 front end parsed: its rules for undocumented members apply, with
   * the schema's pragma (documentation-exceptions).
   */
  qemu10Pragma: PragmaState | undefined;
  private current: DocSection | null = this.body;
  private mode: LineMode = 'body';

  constructor(
    private readonly parser: DocErrorSink | undefined,
    readonly info: Pos,
  ) {}

  /** The first section named `name` (`Returns`, `Errors`, `Since`, …). */
  section(name: string): DocSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  hasSection(name: string): boolean {
    return this.sections.some((s) => s.name === name);
  }

  /** Adds one comment line (`#` included). */
  append(rawLine: string): void {
    let line = rawLine.slice(1);
    if (line === '') {
      this.appendFreeform(line);
      return;
    }
    if (line[0] !== ' ') throw this.error('doc-syntax', 'missing space after #');
    line = line.slice(1);
    switch (this.mode) {
      case 'body':
        this.appendBodyLine(line);
        break;
      case 'args':
        this.appendSymbolLine(this.args, line);
        break;
      case 'features':
        this.appendSymbolLine(this.features, line);
        break;
      case 'various':
        this.appendVariousLine(line);
        break;
    }
  }

  endComment(): void {
    this.switchSection(null);
  }

  private error(rule: string, reason: string): QapiSchemaError {
    if (!this.parser) throw new Error('a QEMU 7.2 doc comment is parsed line by line');
    return this.parser.error(rule, reason);
  }

  private appendBodyLine(line: string): void {
    const name = firstWord(line);
    if (this.symbol === undefined && this.body.text === '' && line.startsWith('@')) {
      if (!line.endsWith(':')) throw this.error('doc-syntax', "line should end with ':'");
      this.symbol = line.slice(1, -1);
      if (this.symbol === '') throw this.error('doc-syntax', "name required after '@'");
    } else if (this.symbol !== undefined) {
      if (name.startsWith('@') && name.endsWith(':')) {
        this.mode = 'args';
        this.appendSymbolLine(this.args, line);
      } else if (line === 'Features:') {
        this.mode = 'features';
      } else if (SECTION_TAGS.has(name)) {
        this.mode = 'various';
        this.appendVariousLine(line);
      } else {
        this.appendFreeform(line);
      }
    } else {
      this.appendFreeform(line);
    }
  }

  /** `@name: text` → the indent of `text`, and the line with `@name:` blanked out. */
  private static splitTagged(line: string, tag: RegExp): { indent: number; rest: string } {
    const indent = tag.exec(line)?.[0].length ?? 0;
    const text = line.slice(indent);
    if (text === '') return { indent: 0, rest: '' };
    return { indent, rest: ' '.repeat(indent) + text };
  }

  /**
   * A line of the `@name:` sections of arguments or of features: a new `@name:` section, a
   * section tag, or text. Free text after a blank line, not indented, ends these sections; in
   * the arguments it may start the `Features:` block instead.
   */
  private appendSymbolLine(dict: Map<string, DocSection>, line: string): void {
    const name = firstWord(line);
    if (name.startsWith('@') && name.endsWith(':')) {
      const { indent, rest } = QapiDoc.splitTagged(line, /^@\S*:\s*/);
      this.startSymbolSection(dict, name.slice(1, -1), indent);
      this.appendFreeform(rest);
      return;
    }
    if (SECTION_TAGS.has(name)) {
      this.mode = 'various';
      this.appendVariousLine(line);
      return;
    }
    if (this.current?.text.endsWith('\n\n') && line !== '' && !/^\s/.test(line)) {
      if (dict === this.args && line === 'Features:') {
        this.mode = 'features';
      } else {
        this.startSection(undefined, 0);
        this.mode = 'various';
        this.appendVariousLine(line);
      }
      return;
    }
    this.appendFreeform(line);
  }

  private appendVariousLine(line: string): void {
    const name = firstWord(line);
    if (name.startsWith('@') && name.endsWith(':')) {
      throw this.error(
        'doc-section-order',
        `'${name}' can't follow '${this.sections[0]?.name ?? 'None'}' section`,
      );
    }
    if (SECTION_TAGS.has(name)) {
      const { indent, rest } = QapiDoc.splitTagged(line, /^\S*:\s*/);
      this.startSection(name.slice(0, -1), indent);
      this.appendFreeform(rest);
      return;
    }
    this.appendFreeform(line);
  }

  private startSymbolSection(dict: Map<string, DocSection>, name: string, indent: number): void {
    if (name === '') throw this.error('doc-syntax', 'invalid parameter name');
    if (dict.has(name)) {
      throw this.error('doc-duplicate', `'${name}' parameter name duplicated`);
    }
    const section = new DocSection(name, indent);
    this.switchSection(section);
    dict.set(name, section);
  }

  private startSection(name: string | undefined, indent: number): void {
    if ((name === 'Returns' || name === 'Since') && this.hasSection(name)) {
      throw this.error('doc-duplicate', `duplicated '${name}' section`);
    }
    const section = new DocSection(name, indent);
    this.switchSection(section);
    this.sections.push(section);
  }

  private switchSection(next: DocSection | null): void {
    const cur = this.current;
    if (cur) {
      cur.text = pyStrip(cur.text);
      if (cur !== this.body && cur.text === '') {
        throw this.error('doc-empty-section', `empty doc section '${cur.name}'`);
      }
    }
    this.current = next;
  }

  private appendFreeform(line: string): void {
    // Tested by first character before any regex: this runs for every doc comment line.
    const m = line.startsWith('@') ? /^(@\S+:)/.exec(line) : null;
    if (m) {
      throw this.error('doc-syntax', `'${m[1]}' not allowed in free-form documentation`);
    }
    const section = this.current;
    if (!section) throw this.error('doc-syntax', 'text after the end of the comment');
    if (line !== '' && section.indent > 0) {
      // The leading white space (trimStart strips exactly what `\s` matches).
      const indent = line.length - line.trimStart().length;
      if (indent < section.indent) {
        throw this.error(
          'doc-indent',
          `unexpected de-indent (expected at least ${section.indent} spaces)`,
        );
      }
      line = line.slice(section.indent);
    }
    section.text += `${pyRstrip(line)}\n`;
  }
}

function firstWord(line: string): string {
  const i = line.indexOf(' ');
  return i < 0 ? line : line.slice(0, i);
}

/** Python's str.strip() / rstrip() (JS trim differs only on U+FEFF, which QAPI never has). */
function pyStrip(s: string): string {
  return s.trim();
}

function pyRstrip(s: string): string {
  return s.trimEnd();
}
