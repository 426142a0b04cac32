// The pipec extension: starts `pipec lsp` (the language server, over stdio) for `.pipe` files,
// restarts it on request or when `pipec.path` changes, and folds by braces.
import * as vscode from 'vscode';
import {
  CloseAction,
  CloseHandlerResult,
  ErrorAction,
  ErrorHandler,
  ErrorHandlerResult,
  LanguageClient,
  LanguageClientOptions,
  Message,
  RevealOutputChannelOn,
  ServerOptions,
} from 'vscode-languageclient/node';
import { resolvePipec } from './binary';
import { foldingRanges } from './folding';

const LANGUAGE_ID = 'pipe';
const OPEN_SETTINGS = 'Open Settings';
const SHOW_OUTPUT = 'Show Output';
const RETRY = 'Retry';

let client: LanguageClient | undefined;
let outputChannel: vscode.OutputChannel | undefined;
/** Serialises starts and stops, so that a quick series of restarts cannot interleave. */
let pending: Promise<void> = Promise.resolve();

export function activate(context: vscode.ExtensionContext): void {
  outputChannel = vscode.window.createOutputChannel('pipec');
  context.subscriptions.push(outputChannel);

  context.subscriptions.push(
    vscode.commands.registerCommand('pipec.restartServer', () => queue(() => restart(true))),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('pipec.path')) {
        void queue(() => restart(false));
      }
    }),
    vscode.languages.registerFoldingRangeProvider({ language: LANGUAGE_ID }, new BraceFolding()),
  );

  void queue(() => start());
}

export function deactivate(): Thenable<void> | undefined {
  return queue(() => stop());
}

function queue(task: () => Promise<void>): Promise<void> {
  pending = pending.then(task, task);
  return pending;
}

function workspaceFolderPath(): string | undefined {
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined;
}

async function start(): Promise<void> {
  const setting = vscode.workspace.getConfiguration('pipec').get<string>('path', 'pipec');
  const cwd = workspaceFolderPath();
  const binary = resolvePipec(setting, cwd);
  if (!binary.found) {
    const where = binary.searched === 'PATH' ? 'on PATH' : `at ${binary.searched}`;
    outputChannel?.appendLine(`pipec: no executable "${setting}" found ${where}; the language server is not running.`);
    void notFound(
      `pipec: cannot start the language server: no "${setting}" executable found ${where}. ` +
        'Install pipec (`cargo install --path .` in the pipec repository) or set "pipec.path" to the binary.',
    );
    return;
  }

  // No `transport` on purpose: the client would append `--stdio`. `pipec lsp` talks LSP on
  // its standard input and output.
  const serverOptions: ServerOptions = {
    command: binary.command,
    args: ['lsp'],
    options: cwd ? { cwd } : {},
  };
  const errorHandler = new RestartingErrorHandler();
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: LANGUAGE_ID },
      { scheme: 'untitled', language: LANGUAGE_ID },
    ],
    outputChannel,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    errorHandler,
  };

  const next = new LanguageClient('pipec', 'pipec', serverOptions, clientOptions);
  client = next;
  outputChannel?.appendLine(`pipec: starting ${binary.command} lsp`);
  try {
    errorHandler.starting = true;
    await next.start();
  } catch (err) {
    client = undefined;
    const reason = err instanceof Error ? err.message : String(err);
    outputChannel?.appendLine(`pipec: the language server did not start: ${reason}`);
    void vscode.window
      .showErrorMessage(
        `pipec: "${binary.command} lsp" did not start (${reason}). ` +
          'Is it a pipec recent enough to have `pipec lsp`? Check "pipec.path".',
        SHOW_OUTPUT,
        OPEN_SETTINGS,
        RETRY,
      )
      .then(handleChoice);
    // Leave nothing half-started behind.
    await next.dispose().catch(() => undefined);
  } finally {
    errorHandler.starting = false;
  }
}

/**
 * Restarts a server that stops while it runs, up to 4 times in 3 minutes (like the client's
 * default handler). A server that stops while it is still starting is not restarted: start()
 * reports that with its own message.
 */
class RestartingErrorHandler implements ErrorHandler {
  starting = false;
  private restarts: number[] = [];

  error(_error: Error, _message: Message | undefined, count: number | undefined): ErrorHandlerResult {
    return { action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown };
  }

  closed(): CloseHandlerResult {
    if (this.starting) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 3 * 60 * 1000);
    this.restarts.push(now);
    if (this.restarts.length <= 4) {
      return { action: CloseAction.Restart };
    }
    return {
      action: CloseAction.DoNotRestart,
      message:
        'pipec: the language server stopped 5 times in 3 minutes and is not restarted. ' +
        'See the "pipec" output channel, then run "pipec: Restart Language Server".',
    };
  }
}

async function stop(): Promise<void> {
  const current = client;
  client = undefined;
  if (!current) {
    return;
  }
  try {
    if (current.isRunning()) {
      await current.stop();
    }
  } catch (err) {
    outputChannel?.appendLine(`pipec: stopping the language server failed: ${String(err)}`);
  }
  await current.dispose().catch(() => undefined);
}

async function restart(announce: boolean): Promise<void> {
  await stop();
  await start();
  if (announce && client?.isRunning()) {
    void vscode.window.setStatusBarMessage('pipec: language server restarted', 3000);
  }
}

async function notFound(message: string): Promise<void> {
  handleChoice(await vscode.window.showErrorMessage(message, OPEN_SETTINGS, RETRY));
}

function handleChoice(choice: string | undefined): void {
  if (choice === OPEN_SETTINGS) {
    void vscode.commands.executeCommand('workbench.action.openSettings', 'pipec.path');
  } else if (choice === SHOW_OUTPUT) {
    outputChannel?.show(true);
  } else if (choice === RETRY) {
    void queue(() => restart(true));
  }
}

class BraceFolding implements vscode.FoldingRangeProvider {
  provideFoldingRanges(document: vscode.TextDocument): vscode.FoldingRange[] {
    return foldingRanges(document.getText()).map((fold) => {
      const kind =
        fold.kind === 'comment'
          ? vscode.FoldingRangeKind.Comment
          : fold.kind === 'region'
            ? vscode.FoldingRangeKind.Region
            : undefined;
      return new vscode.FoldingRange(fold.start, fold.end, kind);
    });
  }
}
