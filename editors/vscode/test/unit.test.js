// Unit tests of the parts of the extension that do not need VS Code: finding the pipec binary
// and folding by braces. Run after `npm run compile` (they load ../out).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');

const { resolvePipec } = require('../out/binary');
const { foldingRanges } = require('../out/folding');

const made = [];
function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipec-vscode-'));
  made.push(dir);
  return dir;
}
test.after(() => {
  for (const dir of made) {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function executable(dir, name) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(file, 0o755);
  return file;
}

test('a bare name is looked up on PATH', { skip: process.platform === 'win32' }, () => {
  const empty = tempDir();
  const bin = tempDir();
  const file = executable(bin, 'pipec');
  const found = resolvePipec('pipec', undefined, { PATH: [empty, bin].join(path.delimiter) });
  assert.deepEqual(found, { command: file, found: true, searched: 'PATH' });
});

test('a missing binary is reported as not found', () => {
  const result = resolvePipec('pipec-does-not-exist', undefined, { PATH: tempDir() });
  assert.equal(result.found, false);
  assert.equal(result.command, 'pipec-does-not-exist');
  assert.equal(result.searched, 'PATH');
});

test('a file that is not executable does not count', { skip: process.platform === 'win32' }, () => {
  const bin = tempDir();
  fs.writeFileSync(path.join(bin, 'pipec'), 'not a program');
  assert.equal(resolvePipec('pipec', undefined, { PATH: bin }).found, false);
});

test('a relative path is relative to the workspace folder', { skip: process.platform === 'win32' }, () => {
  const workspace = tempDir();
  fs.mkdirSync(path.join(workspace, 'target', 'release'), { recursive: true });
  const file = executable(path.join(workspace, 'target', 'release'), 'pipec');
  assert.deepEqual(resolvePipec('target/release/pipec', workspace, {}), {
    command: file,
    found: true,
    searched: file,
  });
  assert.equal(resolvePipec('${workspaceFolder}/target/release/pipec', workspace, {}).command, file);
  const missing = resolvePipec('./nope/pipec', workspace, {});
  assert.equal(missing.found, false);
  assert.equal(missing.searched, path.join(workspace, 'nope', 'pipec'));
});

test('~ is the home folder', () => {
  const result = resolvePipec('~/no-such-dir-for-pipec/pipec', undefined, {});
  assert.equal(result.command, path.join(os.homedir(), 'no-such-dir-for-pipec', 'pipec'));
  assert.equal(result.found, false);
});

test('folding: blocks, lists, comments, block strings and regions', () => {
  const text = [
    '/* a block', //                                 0
    '   comment */', //                              1
    '// region deploy', //                           2
    'pipeline p {', //                               3
    '  stage s {', //                                4
    '    action a: sh {', //                         5
    '      run = """', //                            6
    '        echo "}" ${ {', //                      7: braces in a string and a map in ${…}
    '          a = "x" }.a }', //                    8
    '        """', //                                9
    '      env = { A = "{" }', //                    10: one line: no fold
    '      inputs = [', //                           11
    '        src,', //                               12
    '      ]', //                                    13
    '    }', //                                      14
    '  }', //                                        15
    '}', //                                          16
    '// endregion', //                               17
    '/// doc', //                                    18
    '/// more doc', //                               19
    'x = 1 // trailing', //                          20
  ].join('\n');
  const folds = foldingRanges(text).map((f) => [f.start, f.end, f.kind]);
  assert.deepEqual(folds, [
    [0, 1, 'comment'],
    [2, 17, 'region'],
    [3, 15, undefined],
    [4, 14, undefined],
    [5, 13, undefined],
    [6, 8, undefined],
    [11, 12, undefined],
    [18, 19, 'comment'],
  ]);
});

test('folding: unbalanced closers and unterminated strings do not throw', () => {
  const folds = foldingRanges('}\n]\n"abc\n{\n\n}\n');
  assert.deepEqual(folds.map((f) => [f.start, f.end]), [[3, 4]]);
});
