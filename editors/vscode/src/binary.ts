// Finding the `pipec` binary named by the `pipec.path` setting. No `vscode` import here, so
// the logic can be tested with plain node.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface Resolved {
  /** What to spawn: an absolute path when the binary was found, else the setting as given. */
  command: string;
  /** Whether an executable file was found. */
  found: boolean;
  /** Where it was looked for, for the error message. */
  searched: string;
}

function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) {
      return false;
    }
    if (process.platform !== 'win32') {
      fs.accessSync(file, fs.constants.X_OK);
    }
    return true;
  } catch {
    return false;
  }
}

/** The names to try for `base` on this platform (`pipec`, and `pipec.exe`… on Windows). */
function candidates(base: string, env: NodeJS.ProcessEnv): string[] {
  if (process.platform !== 'win32' || path.extname(base) !== '') {
    return [base];
  }
  const exts = (env.PATHEXT || '.EXE;.CMD;.BAT;.COM').split(';').filter((e) => e !== '');
  return [base, ...exts.map((e) => base + e.toLowerCase()), ...exts.map((e) => base + e)];
}

/**
 * Resolves the `pipec.path` setting: `~/…` is the home folder, `${workspaceFolder}` the first
 * workspace folder; a value with a path separator is a file (relative to the workspace folder),
 * a bare name is looked up on PATH.
 */
export function resolvePipec(
  setting: string,
  workspaceFolder: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Resolved {
  let value = setting.trim() || 'pipec';
  if (workspaceFolder) {
    value = value.split('${workspaceFolder}').join(workspaceFolder);
  }
  if (value === '~' || value.startsWith('~/') || value.startsWith('~\\')) {
    value = path.join(os.homedir(), value.slice(1));
  }
  const hasSeparator = value.includes('/') || (process.platform === 'win32' && value.includes('\\'));
  if (hasSeparator) {
    const file = path.isAbsolute(value) ? value : path.resolve(workspaceFolder ?? process.cwd(), value);
    for (const candidate of candidates(file, env)) {
      if (isExecutableFile(candidate)) {
        return { command: candidate, found: true, searched: file };
      }
    }
    return { command: file, found: false, searched: file };
  }
  const dirs = (env.PATH ?? env.Path ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const dir of dirs) {
    for (const candidate of candidates(path.join(dir, value), env)) {
      if (isExecutableFile(candidate)) {
        return { command: candidate, found: true, searched: 'PATH' };
      }
    }
  }
  return { command: value, found: false, searched: 'PATH' };
}
