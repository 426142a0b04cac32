//! `pipec lsp`: a Language Server over stdio (tower-lsp-server, see ARCHITECTURE.md).
//!
//! This is an adapter: it keeps the open documents (`docs.rs`: each change is analysed off
//! the async thread, bursts coalesced, stale results dropped), runs
//! [`crate::ide::Analysis`] (the same checker as `pipec check`) and converts between LSP
//! positions and byte offsets. Imports are read from the open documents first, then from
//! disk. The stdlib and the diagnostic explanations are written once into a cache folder as
//! read-only files so that "go to definition" and the diagnostic code links open real files
//! in every editor.

mod convert;
mod docs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::Diagnostic as LspDiagnostic;
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, CodeActionResponse, CompletionOptions, CompletionParams,
    CompletionResponse, DiagnosticRelatedInformation, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, DocumentFormattingParams,
    DocumentSymbol, DocumentSymbolParams, DocumentSymbolResponse, FoldingRange, FoldingRangeParams,
    FoldingRangeProviderCapability, GotoDefinitionParams, GotoDefinitionResponse, Hover,
    HoverContents, HoverParams, HoverProviderCapability, InitializeParams, InitializeResult,
    InitializedParams, Location, MessageType, OneOf, PrepareRenameResponse, ReferenceParams,
    RenameOptions, RenameParams, ServerCapabilities, ServerInfo, SymbolKind,
    TextDocumentPositionParams, TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
    WorkDoneProgressOptions, WorkspaceEdit,
};
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use crate::ide::{Analysis, Outline, OutlineKind, Symbol};
use crate::source::Span;
use convert::{LineIndex, Locate};
use docs::{Docs, Finished};

/// `pipec lsp`
#[derive(clap::Args, Debug)]
#[command(
    about = "Run the language server (LSP over stdio) for editors",
    long_about = "Run the language server: editors start it and talk LSP over stdin/stdout.\n\n\
        It reports the diagnostics of `pipec check` as you type, and offers hover, go to \
        definition, references, rename, completion, document symbols, formatting and quick \
        fixes. See docs/editors.md for VS Code, Neovim and Helix set-ups.",
    after_help = "Example (Neovim):\n  vim.lsp.start({ name = 'pipec', cmd = { 'pipec', 'lsp' } })"
)]
pub(crate) struct Args {
    /// Accepted for editors that pass it (stdio is the only transport)
    #[arg(long)]
    stdio: bool,
}

/// Runs the server until the client says `exit`.
pub(super) fn run(_args: &Args) -> super::error::Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            super::error::Error::internal(format!("cannot start the language server: {e}"))
        })?;
    runtime.block_on(async {
        let (service, socket) = LspService::new(|client| Backend {
            client,
            docs: Docs::default(),
            cache: Arc::new(Cache::create()),
        });
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
            .serve(service)
            .await;
    });
    Ok(super::exit::OK)
}

/// An open document that imports another, and its uses of a name declared there.
type Importer = (Uri, Arc<Analysis>, Vec<Span>);

#[derive(Clone)]
struct Backend {
    client: Client,
    docs: Docs,
    cache: Arc<Cache>,
}

fn name_of(uri: &Uri) -> String {
    uri.to_file_path()
        .map_or_else(|| uri.as_str().to_string(), |p| crate::paths::normalize(&p))
}

/// Read-only copies of the stdlib and of the explanations, for links into them.
struct Cache {
    dir: Option<PathBuf>,
}

impl Cache {
    fn create() -> Cache {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("pipec-{}", env!("CARGO_PKG_VERSION")));
        let mut files: Vec<(PathBuf, &str)> = crate::stdlib::MODULES
            .iter()
            .filter_map(|m| {
                Some((
                    dir.join(format!("stdlib/{m}.pipe")),
                    crate::stdlib::source(m)?,
                ))
            })
            .collect();
        for code in crate::diagnostics::Code::ALL {
            files.push((
                dir.join(format!("explain/{}.md", code.as_str())),
                code.explanation(),
            ));
        }
        let ok = files
            .iter()
            .all(|(path, text)| write_read_only(path, text).is_ok());
        Cache {
            dir: ok.then_some(dir),
        }
    }

    fn file(&self, relative: &str) -> Option<Uri> {
        Uri::from_file_path(self.dir.as_ref()?.join(relative))
    }
}

/// Writes `text` to `path` (unless it already holds it) and makes it read-only.
fn write_read_only(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // Written under a temporary name, then renamed: two servers starting at once never see
    // half a file.
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, text)?;
    let mut perms = std::fs::metadata(&temp)?.permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&temp, perms)?;
    std::fs::rename(&temp, path)
}

/// Locates spans of one analysis: its root is the document `uri`.
struct Locator<'a> {
    analysis: &'a Analysis,
    uri: &'a Uri,
    cache: &'a Cache,
    /// Line indexes of the files located so far (one per file, not one per label).
    lines: std::cell::RefCell<HashMap<crate::source::FileId, LineIndex<'a>>>,
}

impl<'a> Locator<'a> {
    fn new(analysis: &'a Analysis, uri: &'a Uri, cache: &'a Cache) -> Locator<'a> {
        Locator {
            analysis,
            uri,
            cache,
            lines: std::cell::RefCell::default(),
        }
    }
}

impl Locate for Locator<'_> {
    fn location(&self, span: Span) -> Option<Location> {
        let file = self.analysis.source_map().get(span.file);
        let uri = if span.file == self.analysis.root() {
            self.uri.clone()
        } else if let Some(module) = file
            .name
            .strip_prefix("<stdlib/")
            .and_then(|n| n.strip_suffix('>'))
        {
            self.cache.file(&format!("stdlib/{module}"))?
        } else {
            Uri::from_file_path(&file.name)?
        };
        let range = self
            .lines
            .borrow_mut()
            .entry(span.file)
            .or_insert_with(|| LineIndex::new(&file.text))
            .span_range(span);
        Some(Location { uri, range })
    }

    fn explanation(&self, code: crate::diagnostics::Code) -> Option<Uri> {
        self.cache.file(&format!("explain/{}.md", code.as_str()))
    }
}

impl Backend {
    /// Starts analysing `uri` when `start` (a task already analysing it picks the change up
    /// itself).
    fn schedule(&self, uri: Uri, start: bool) {
        if start {
            tokio::spawn(self.clone().analyse(uri));
        }
    }

    /// Analyses `uri` until an analysis of its current text is kept, publishes its
    /// diagnostics, and starts analysing the open documents that import it when its text
    /// changed.
    async fn analyse(self, uri: Uri) {
        loop {
            let Some(job) = self.docs.job(&uri) else {
                return;
            };
            let generation = job.generation;
            let fresh = tokio::task::spawn_blocking(move || docs::analyse(&job))
                .await
                .ok()
                .flatten();
            match self.docs.finish(&uri, generation, fresh) {
                Finished::Stale => {}
                Finished::Closed => return,
                Finished::Current {
                    analysis,
                    version,
                    importers,
                } => {
                    match analysis {
                        Some(a) => {
                            let diagnostics = self.lsp_diagnostics(&uri, &a);
                            self.client
                                .publish_diagnostics(uri.clone(), diagnostics, version)
                                .await;
                        }
                        None => self.internal_error(&uri).await,
                    }
                    for other in importers {
                        self.schedule(other, true);
                    }
                    return;
                }
            }
        }
    }

    /// A bug in pipec's analysis (it panicked): the document keeps its last analysis.
    async fn internal_error(&self, uri: &Uri) {
        self.client
            .show_message(
                MessageType::ERROR,
                format!(
                    "pipec could not analyse {} (a bug in pipec: please report it with the \
                     file); diagnostics are not up to date",
                    uri.as_str()
                ),
            )
            .await;
    }

    fn lsp_diagnostics(&self, uri: &Uri, analysis: &Analysis) -> Vec<LspDiagnostic> {
        let root = analysis.root();
        let lines = root_lines(analysis);
        let locate = Locator::new(analysis, uri, &self.cache);
        let mut out: Vec<_> = analysis
            .diagnostics()
            .iter()
            .filter(|d| d.primary.span.file == root)
            .map(|d| convert::diagnostic(d, &lines, &locate))
            .collect();
        // An imported file with errors: said at its import, pointing into the file.
        for (span, count, first) in analysis.import_problems() {
            let mut d = convert::diagnostic(first, &lines, &locate);
            d.range = lines.span_range(span);
            let plural = if count == 1 { "" } else { "s" };
            d.message = format!(
                "the imported file has {count} error{plural}; the first: {}",
                d.message
            );
            if let Some(location) = locate.location(first.primary.span) {
                let related = d.related_information.get_or_insert_with(Vec::new);
                related.insert(
                    0,
                    DiagnosticRelatedInformation {
                        location,
                        message: first.primary.message.clone(),
                    },
                );
            }
            out.push(d);
        }
        out
    }

    /// The analysis of an open document's current text and the byte offset of a position
    /// in it.
    async fn at(&self, pos: &TextDocumentPositionParams) -> Option<(Arc<Analysis>, usize)> {
        let (analysis, text) = self.docs.current(&pos.text_document.uri).await?;
        let offset = LineIndex::new(&text).offset(pos.position);
        Some((analysis, offset))
    }

    /// The other open documents that import document `uri` and use `symbol` (a template or
    /// template parameter declared in it), with those uses.
    fn importers(&self, uri: &Uri, symbol: &Symbol) -> Vec<Importer> {
        let Some((name, _)) = self.docs.last(uri) else {
            return Vec::new();
        };
        self.importers_of(&name, uri, symbol)
    }

    /// The open documents other than `except` that import the file `name` and use `symbol`
    /// (as that file names it), with those uses.
    fn importers_of(&self, name: &str, except: &Uri, symbol: &Symbol) -> Vec<Importer> {
        self.docs
            .others(except)
            .into_iter()
            .filter_map(|(other, analysis)| {
                let spans = analysis.uses_of_imported(name, symbol);
                (!spans.is_empty()).then_some((other, analysis, spans))
            })
            .collect()
    }

    fn locations(&self, uri: &Uri, analysis: &Analysis, spans: &[Span]) -> Vec<Location> {
        let locate = Locator::new(analysis, uri, &self.cache);
        spans.iter().filter_map(|s| locate.location(*s)).collect()
    }

    fn edits(analysis: &Analysis, edits: Vec<crate::ide::Edit>) -> Vec<TextEdit> {
        let lines = root_lines(analysis);
        edits
            .into_iter()
            .map(|e| TextEdit::new(lines.span_range(e.span), e.text))
            .collect()
    }
}

/// Positions in the analysed file itself.
fn root_lines(analysis: &Analysis) -> LineIndex<'_> {
    LineIndex::new(&analysis.source_map().get(analysis.root()).text)
}

fn symbol(o: Outline, lines: &LineIndex<'_>) -> DocumentSymbol {
    let kind = match o.kind {
        OutlineKind::Import => SymbolKind::MODULE,
        OutlineKind::Template => SymbolKind::FUNCTION,
        OutlineKind::Pipeline => SymbolKind::NAMESPACE,
        OutlineKind::Param => SymbolKind::VARIABLE,
        OutlineKind::Secret => SymbolKind::KEY,
        OutlineKind::Trigger => SymbolKind::EVENT,
        OutlineKind::Stage => SymbolKind::CLASS,
        OutlineKind::Action => SymbolKind::METHOD,
        OutlineKind::Transition => SymbolKind::OPERATOR,
    };
    let children: Vec<DocumentSymbol> = o.children.into_iter().map(|c| symbol(c, lines)).collect();
    #[allow(deprecated)] // Reason: `deprecated` must be written; `tags` replaces it.
    DocumentSymbol {
        name: o.name,
        detail: (!o.detail.is_empty()).then_some(o.detail),
        kind,
        tags: None,
        deprecated: None,
        range: lines.span_range(o.span),
        selection_range: lines.span_range(o.name_span),
        children: (!children.is_empty()).then_some(children),
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, _: InitializeParams) -> Result<InitializeResult> {
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Kind(
                    TextDocumentSyncKind::INCREMENTAL,
                )),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: WorkDoneProgressOptions::default(),
                })),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(vec![".".into(), ":".into(), "[".into()]),
                    ..CompletionOptions::default()
                }),
                document_symbol_provider: Some(OneOf::Left(true)),
                document_formatting_provider: Some(OneOf::Left(true)),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "pipec".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        if self.cache.dir.is_none() {
            self.client
                .log_message(
                    MessageType::WARNING,
                    "pipec: cannot write the stdlib and explanations to a cache folder; \
                     definitions in the stdlib and explanation links are off",
                )
                .await;
        }
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        let start = self
            .docs
            .open(&doc.uri, name_of(&doc.uri), doc.text, doc.version);
        self.schedule(doc.uri, start);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let doc = params.text_document;
        let start = self
            .docs
            .change(&doc.uri, params.content_changes, doc.version);
        self.schedule(doc.uri, start);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        // Files that import it read it from disk again.
        let importers = self.docs.close(&uri);
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
        for (other, start) in importers {
            self.schedule(other, start);
        }
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let pos = params.text_document_position_params;
        let Some((analysis, offset)) = self.at(&pos).await else {
            return Ok(None);
        };
        let Some(hover) = analysis.hover(offset) else {
            return Ok(None);
        };
        let lines = root_lines(&analysis);
        Ok(Some(Hover {
            contents: HoverContents::Markup(convert::markdown(hover.markdown)),
            range: Some(lines.span_range(hover.span)),
        }))
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let pos = params.text_document_position_params;
        let Some((analysis, offset)) = self.at(&pos).await else {
            return Ok(None);
        };
        let Some(span) = analysis.definition(offset) else {
            return Ok(None);
        };
        let found = self.locations(&pos.text_document.uri, &analysis, &[span]);
        Ok(found.into_iter().next().map(GotoDefinitionResponse::Scalar))
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let pos = params.text_document_position;
        let Some((analysis, offset)) = self.at(&pos).await else {
            return Ok(None);
        };
        let uri = &pos.text_document.uri;
        let spans = analysis.references(offset, params.context.include_declaration);
        let mut out = self.locations(uri, &analysis, &spans);
        if let Some(symbol) = analysis.symbol_at(offset) {
            // Declared here: the open files that import this one. Imported: the other open
            // files that import the same module.
            let others = match analysis.imported_from(symbol) {
                Some((module, local)) => self.importers_of(&module, uri, &local),
                None => self.importers(uri, symbol),
            };
            for (other, other_analysis, spans) in others {
                out.extend(self.locations(&other, &other_analysis, &spans));
            }
        }
        Ok(Some(out))
    }

    async fn prepare_rename(
        &self,
        pos: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let Some((analysis, offset)) = self.at(&pos).await else {
            return Ok(None);
        };
        let lines = root_lines(&analysis);
        Ok(analysis.prepare_rename(offset).map(|(span, placeholder)| {
            PrepareRenameResponse::RangeWithPlaceholder {
                range: lines.span_range(span),
                placeholder,
            }
        }))
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let pos = params.text_document_position;
        let Some((analysis, offset)) = self.at(&pos).await else {
            return Ok(None);
        };
        let edits = analysis
            .rename(offset, &params.new_name)
            .map_err(Error::invalid_params)?;
        let mut changes = HashMap::new();
        // A template (or its parameter) is also renamed in the open files that import it.
        if let Some(symbol) = analysis.symbol_at(offset) {
            for (uri, other, spans) in self.importers(&pos.text_document.uri, symbol) {
                let edits = spans
                    .into_iter()
                    .map(|span| crate::ide::Edit {
                        span,
                        text: params.new_name.clone(),
                    })
                    .collect();
                changes.insert(uri, Backend::edits(&other, edits));
            }
        }
        changes.insert(pos.text_document.uri, Backend::edits(&analysis, edits));
        Ok(Some(WorkspaceEdit::new(changes)))
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let Some((analysis, offset)) = self.at(&params.text_document_position).await else {
            return Ok(None);
        };
        let items = analysis.completions(offset);
        Ok(Some(CompletionResponse::Array(
            items.into_iter().map(convert::completion).collect(),
        )))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let Some((analysis, text)) = self.docs.current(&params.text_document.uri).await else {
            return Ok(None);
        };
        let lines = LineIndex::new(&text);
        let symbols = analysis.outline().into_iter().map(|o| symbol(o, &lines));
        Ok(Some(DocumentSymbolResponse::Nested(symbols.collect())))
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let Some(text) = self.docs.text(&params.text_document.uri) else {
            return Ok(None);
        };
        // The formatter panics only on a bug of its own (its output failed its self-check):
        // then the document is left as it is and the editor is told.
        let formatted = std::panic::catch_unwind(|| crate::format_source(&text))
            .map_err(|_| {
                Error::invalid_params(
                    "pipec's formatter failed on this file (a bug in pipec: please report it \
                     with the file); nothing was changed",
                )
            })?
            .ok();
        // A file with syntax errors is left as it is: no edit (not an error, which
        // format-on-save would show at every save), and a word in the status line.
        let Some(formatted) = formatted else {
            self.client
                .show_message(
                    MessageType::WARNING,
                    "pipec: not formatted, the file has syntax errors (see the diagnostics)",
                )
                .await;
            return Ok(None);
        };
        if formatted == *text {
            return Ok(Some(Vec::new()));
        }
        let lines = LineIndex::new(&text);
        Ok(Some(vec![TextEdit::new(
            lines.range(0, text.len()),
            formatted,
        )]))
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        let Some((analysis, text)) = self.docs.current(&params.text_document.uri).await else {
            return Ok(None);
        };
        let lines = LineIndex::new(&text);
        let mut out = Vec::new();
        let mut todo = analysis.outline();
        while let Some(o) = todo.pop() {
            let range = lines.span_range(o.span);
            if range.end.line > range.start.line {
                out.push(FoldingRange {
                    start_line: range.start.line,
                    end_line: range.end.line,
                    ..FoldingRange::default()
                });
            }
            todo.extend(o.children);
        }
        out.sort_by_key(|f| (f.start_line, f.end_line));
        Ok(Some(out))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some((analysis, _)) = self.docs.current(&uri).await else {
            return Ok(None);
        };
        let lines = root_lines(&analysis);
        let locate = Locator::new(&analysis, &uri, &self.cache);
        let wanted = params.range;
        let mut out = Vec::new();
        let quickfix = CodeActionKind::QUICKFIX;
        if let Some(only) = &params.context.only
            && !only
                .iter()
                .any(|k| quickfix.as_str().starts_with(k.as_str()))
        {
            return Ok(Some(out));
        }
        for fix in analysis.fixes() {
            let range = lines.span_range(fix.edit.span);
            if range.end < wanted.start || wanted.end < range.start {
                continue;
            }
            let d = &analysis.diagnostics()[fix.diagnostic];
            let edit = TextEdit::new(range, fix.edit.text);
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![convert::diagnostic(d, &lines, &locate)]),
                edit: Some(WorkspaceEdit::new(HashMap::from([(
                    uri.clone(),
                    vec![edit],
                )]))),
                is_preferred: Some(true),
                ..CodeAction::default()
            }));
        }
        Ok(Some(out))
    }
}
