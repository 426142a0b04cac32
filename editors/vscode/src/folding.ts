// Folding by braces: the ranges of `{…}`, `[…]` and `(…)` that span lines, block comments,
// runs of line comments, block strings and `// region` … `// endregion` markers. Braces inside
// strings and comments do not count. No `vscode` import here, so it can be tested with node.

export type FoldKind = 'comment' | 'region' | undefined;

export interface Fold {
  /** First line (0-based) of the range. */
  start: number;
  /** Last line that is hidden with it. */
  end: number;
  kind: FoldKind;
}

const REGION_START = /^\s*\/\/\s*#?region\b/;
const REGION_END = /^\s*\/\/\s*#?endregion\b/;

interface Open {
  char: string;
  line: number;
}

export function foldingRanges(text: string): Fold[] {
  const folds: Fold[] = [];
  const add = (start: number, end: number, kind: FoldKind) => {
    if (end > start) {
      folds.push({ start, end, kind });
    }
  };
  // Code contexts: the top level, and every `${…}` (whose own braces are counted in `depth`).
  type Ctx = { kind: 'code'; depth: number; interp: boolean } | { kind: 'str'; block: boolean; line: number };
  const stack: Ctx[] = [{ kind: 'code', depth: 0, interp: false }];
  const open: Open[] = [];
  const regions: number[] = [];
  let line = 0;
  let commentRun: { start: number; end: number } | undefined;
  let lineHasCode = false;
  const lineStart = (i: number) => i === 0 || text[i - 1] === '\n';

  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (lineStart(i)) {
      lineHasCode = false;
    }
    if (c === '\n') {
      if (top.kind === 'str' && !top.block) {
        // A one-line string ends at the end of its line (an error the checker reports).
        stack.pop();
      }
      line += 1;
      i += 1;
      continue;
    }
    if (top.kind === 'code') {
      if (text.startsWith('//', i)) {
        const end = text.indexOf('\n', i);
        const comment = text.slice(i, end < 0 ? text.length : end);
        if (!lineHasCode && REGION_START.test(comment)) {
          regions.push(line);
        } else if (!lineHasCode && REGION_END.test(comment) && regions.length > 0) {
          add(regions.pop() as number, line, 'region');
        } else if (!lineHasCode) {
          if (commentRun && commentRun.end === line - 1) {
            commentRun.end = line;
          } else {
            if (commentRun) {
              add(commentRun.start, commentRun.end, 'comment');
            }
            commentRun = { start: line, end: line };
          }
        }
        i = end < 0 ? text.length : end;
        continue;
      }
      if (text.startsWith('/*', i)) {
        const close = text.indexOf('*/', i + 2);
        const stop = close < 0 ? text.length : close + 2;
        const startLine = line;
        for (let k = i; k < stop; k++) {
          if (text[k] === '\n') {
            line += 1;
          }
        }
        add(startLine, line, 'comment');
        lineHasCode = true;
        i = stop;
        continue;
      }
      if (c !== ' ' && c !== '\t' && c !== '\r') {
        lineHasCode = true;
      }
      if (text.startsWith('"""', i)) {
        stack.push({ kind: 'str', block: true, line });
        i += 3;
        continue;
      }
      if (c === '"') {
        stack.push({ kind: 'str', block: false, line });
        i += 1;
        continue;
      }
      if (c === '{' || c === '[' || c === '(') {
        if (c === '{') {
          top.depth += 1;
        }
        open.push({ char: c, line });
      } else if (c === '}' || c === ']' || c === ')') {
        if (c === '}' && top.interp && top.depth === 0) {
          stack.pop();
          i += 1;
          continue;
        }
        if (c === '}') {
          top.depth = Math.max(0, top.depth - 1);
        }
        const want = c === '}' ? '{' : c === ']' ? '[' : '(';
        // Pop to the matching opener; unmatched closers are ignored.
        const at = open.map((o) => o.char).lastIndexOf(want);
        if (at >= 0) {
          const opener = open[at];
          open.length = at;
          // Keep the closing line visible: `}` stays on screen when folded.
          add(opener.line, line - 1, undefined);
        }
      }
      i += 1;
      continue;
    }
    // Inside a string.
    if (c === '\\') {
      i += text[i + 1] === '\n' && !top.block ? 1 : 2;
    } else if (text.startsWith('${', i)) {
      stack.push({ kind: 'code', depth: 0, interp: true });
      i += 2;
    } else if (top.block && text.startsWith('"""', i)) {
      stack.pop();
      add(top.line, line - 1, undefined);
      i += 3;
    } else if (!top.block && c === '"') {
      stack.pop();
      i += 1;
    } else {
      i += 1;
    }
  }
  if (commentRun) {
    add(commentRun.start, commentRun.end, 'comment');
  }
  folds.sort((a, b) => a.start - b.start || b.end - a.end);
  return folds;
}
