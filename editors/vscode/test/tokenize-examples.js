#!/usr/bin/env node
// Runs the TextMate grammar over every real `.pipe` file of the repository (examples/,
// recursively, and stdlib/) with the engine VS Code uses (vscode-textmate + vscode-oniguruma),
// and checks each line:
//
//   1. a line with text gets at least one token beyond the root scope `source.pipe`, and
//      so does every one of its non-whitespace characters;
//   2. no token is `invalid.*` (these files check clean, so nothing in them is illegal);
//   3. the state at the end of the line (code, block comment, one-line string, block string,
//      interpolation) is the one a small independent lexer of the language finds there. A
//      grammar that leaves a string or an interpolation open past the end of a line where the
//      real file closed it fails here, and so does one that closes a block string too early;
//   4. the file ends in plain code.
//
// Usage: node test/tokenize-examples.js [FILE_OR_DIR...]
//        (default: ../../examples and ../../stdlib, relative to this extension)
//        node test/tokenize-examples.js --dump FILE   prints the tokens of FILE
'use strict';

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const extensionDir = path.resolve(__dirname, '..');
const repoRoot = path.resolve(extensionDir, '..', '..');
const grammarPath = path.join(extensionDir, 'syntaxes', 'pipe.tmLanguage.json');
const ROOT_SCOPE = 'source.pipe';

async function loadGrammar() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  // loadWASM takes the bytes as an ArrayBuffer.
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== ROOT_SCOPE) {
        return null;
      }
      return vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), grammarPath);
    },
  });
  const grammar = await registry.loadGrammar(ROOT_SCOPE);
  if (!grammar) {
    throw new Error(`cannot load ${grammarPath}`);
  }
  return grammar;
}

// ------------------------------------------------------------------------ reference lexer
// What the language says the state is at the end of each line (one entry per '\n'):
// 'code', 'comment' (inside /* */), 'string' (a one-line string), 'block' (a block string)
// or 'interp' (inside ${…}). Follows docs/language.md §2 and the grammar's lexical rules:
// strings cannot hold a raw newline (the string ends there, E0102), block strings and block
// comments can, and `${…}` nests code (with its own strings and braces) inside a string.
function referenceLineEndStates(text) {
  const states = [];
  // Each context: { kind: 'code', depth: null | n } or { kind: 'str', block: bool }.
  const stack = [{ kind: 'code', depth: null }];
  let inComment = false;
  const category = () => {
    if (inComment) {
      return 'comment';
    }
    const top = stack[stack.length - 1];
    if (top.kind === 'str') {
      return top.block ? 'block' : 'string';
    }
    return top.depth === null ? 'code' : 'interp';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const top = stack[stack.length - 1];
    if (c === '\n') {
      if (top.kind === 'str' && !top.block && !inComment) {
        // A one-line string ends at the end of its line: drop it and whatever it opened.
        while (stack.length > 1) {
          const popped = stack.pop();
          if (popped === top) {
            break;
          }
        }
      }
      states.push(category());
      i += 1;
      continue;
    }
    if (inComment) {
      if (text.startsWith('*/', i)) {
        inComment = false;
        i += 2;
      } else {
        i += 1;
      }
      continue;
    }
    if (top.kind === 'code') {
      if (text.startsWith('//', i)) {
        const end = text.indexOf('\n', i);
        i = end < 0 ? text.length : end;
      } else if (text.startsWith('/*', i)) {
        inComment = true;
        i += 2;
      } else if (text.startsWith('"""', i)) {
        stack.push({ kind: 'str', block: true });
        i += 3;
      } else if (c === '"') {
        stack.push({ kind: 'str', block: false });
        i += 1;
      } else if (c === '{' && top.depth !== null) {
        top.depth += 1;
        i += 1;
      } else if (c === '}' && top.depth !== null) {
        if (top.depth === 0) {
          stack.pop();
        } else {
          top.depth -= 1;
        }
        i += 1;
      } else {
        i += 1;
      }
      continue;
    }
    // Inside a string.
    if (c === '\\') {
      // An escape; in a one-line string a backslash does not escape the end of the line.
      i += text[i + 1] === '\n' && !top.block ? 1 : 2;
    } else if (text.startsWith('${', i)) {
      stack.push({ kind: 'code', depth: 0 });
      i += 2;
    } else if (top.block && text.startsWith('"""', i)) {
      stack.pop();
      i += 3;
    } else if (!top.block && c === '"') {
      stack.pop();
      i += 1;
    } else {
      i += 1;
    }
  }
  return { states, final: category() };
}

// ------------------------------------------------------------------------ grammar state
const STATE_SCOPES = [
  ['comment.block.', 'comment'],
  ['string.quoted.triple.', 'block'],
  ['string.quoted.double.', 'string'],
  ['meta.embedded.line.', 'interp'],
];

function categoryOfScopes(scopes) {
  let found = 'code';
  for (const scope of scopes) {
    for (const [prefix, name] of STATE_SCOPES) {
      if (scope.startsWith(prefix)) {
        found = name;
      }
    }
  }
  return found;
}

// The grammar's state after a line: tokenize one character that no rule of the grammar
// ends on and read the scopes it gets.
function grammarState(grammar, ruleStack) {
  const probe = grammar.tokenizeLine('\u0001', ruleStack);
  return categoryOfScopes(probe.tokens[0].scopes);
}

// ------------------------------------------------------------------------ files
function collectPipeFiles(target, out) {
  const stat = fs.statSync(target);
  if (stat.isDirectory()) {
    for (const entry of fs.readdirSync(target).sort()) {
      if (entry === 'node_modules' || entry === 'target' || entry.startsWith('.')) {
        continue;
      }
      collectPipeFiles(path.join(target, entry), out);
    }
  } else if (target.endsWith('.pipe')) {
    out.push(target);
  }
}

function checkFile(grammar, file) {
  const text = fs.readFileSync(file, 'utf8').replace(/\r\n/g, '\n');
  const lines = text.split('\n');
  const reference = referenceLineEndStates(text);
  const problems = [];
  const rel = path.relative(repoRoot, file);
  let ruleStack = vsctm.INITIAL;
  lines.forEach((line, index) => {
    const where = `${rel}:${index + 1}`;
    const result = grammar.tokenizeLine(line, ruleStack);
    ruleStack = result.ruleStack;
    if (line.trim() !== '') {
      const beyondRoot = result.tokens.filter((t) => t.scopes.length > 1);
      if (beyondRoot.length === 0) {
        problems.push(`${where}: no token beyond ${ROOT_SCOPE}: ${JSON.stringify(line)}`);
      }
      for (const token of result.tokens) {
        const textOfToken = line.slice(token.startIndex, token.endIndex);
        if (token.scopes.length === 1 && textOfToken.trim() !== '') {
          problems.push(
            `${where}:${token.startIndex + 1}: ${JSON.stringify(textOfToken)} has only the root scope`,
          );
        }
        const invalid = token.scopes.find((s) => s.startsWith('invalid.'));
        if (invalid) {
          problems.push(`${where}:${token.startIndex + 1}: ${JSON.stringify(textOfToken)} is ${invalid}`);
        }
      }
    }
    // The last "line" after a final newline has no '\n' of its own.
    const expected = index < reference.states.length ? reference.states[index] : reference.final;
    const actual = grammarState(grammar, ruleStack);
    if (actual !== expected) {
      problems.push(`${where}: the grammar ends the line in state '${actual}', the file in '${expected}'`);
    }
  });
  const finalState = grammarState(grammar, ruleStack);
  if (finalState !== 'code') {
    problems.push(`${rel}: the grammar ends the file in state '${finalState}', not in code`);
  }
  return { lines: lines.length, problems };
}

function dump(grammar, file) {
  const lines = fs.readFileSync(file, 'utf8').replace(/\r\n/g, '\n').split('\n');
  let ruleStack = vsctm.INITIAL;
  lines.forEach((line, index) => {
    const result = grammar.tokenizeLine(line, ruleStack);
    ruleStack = result.ruleStack;
    console.log(`${index + 1}: ${line}`);
    for (const t of result.tokens) {
      const part = line.slice(t.startIndex, t.endIndex);
      if (part.trim() !== '') {
        console.log(`    ${JSON.stringify(part)}  ${t.scopes.slice(1).join(' ')}`);
      }
    }
  });
}

async function main() {
  const args = process.argv.slice(2);
  const grammar = await loadGrammar();
  if (args[0] === '--dump') {
    for (const file of args.slice(1)) {
      dump(grammar, file);
    }
    return 0;
  }
  const targets = args.length > 0
    ? args.map((a) => path.resolve(a))
    : [path.join(repoRoot, 'examples'), path.join(repoRoot, 'stdlib')];
  const files = [];
  for (const target of targets) {
    if (!fs.existsSync(target)) {
      console.error(`error: ${target} does not exist`);
      return 1;
    }
    collectPipeFiles(target, files);
  }
  if (files.length === 0) {
    console.error(`error: no .pipe files under ${targets.join(', ')}`);
    return 1;
  }
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const { lines, problems } = checkFile(grammar, file);
    const rel = path.relative(repoRoot, file);
    if (problems.length === 0) {
      passed += 1;
      console.log(`ok   ${rel} (${lines} lines)`);
    } else {
      failed += 1;
      console.log(`FAIL ${rel}`);
      for (const problem of problems.slice(0, 20)) {
        console.log(`     ${problem}`);
      }
      if (problems.length > 20) {
        console.log(`     … and ${problems.length - 20} more`);
      }
    }
  }
  console.log(`tokenize-examples: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exitCode = 1;
  },
);
