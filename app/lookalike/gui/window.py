"""The main window: query bar, thumbnail grid and status bar, wired to the core.

The window appears before any model is loaded: the model loads on a thread
once the window is shown, and indexing starts when it is ready. A model chosen
later first indexes the library while searches go on with the one before it,
and takes over when that run is done. Everything the person must know goes
through the one `Messages` bridge.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QMimeData, QPoint, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPalette,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSlider,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lookalike import APP_NAME, __version__
from lookalike.core.clip import VISUAL_VARIANTS, ClipModel, provider_order
from lookalike.core.imaging import content_hash
from lookalike.core.indexer import IndexReport, Progress
from lookalike.core.library import Library
from lookalike.core.model_store import ModelStore, quantize_visual
from lookalike.core.places import Places
from lookalike.core.scanner import is_photo_name
from lookalike.core.search import TermKind
from lookalike.gui import settings as registry
from lookalike.gui.downloading import Downloads
from lookalike.gui.grid import PhotoGrid
from lookalike.gui.icons import app_icon
from lookalike.gui.indexing import Indexing, State
from lookalike.gui.messages import Level, Message, Messages
from lookalike.gui.preview import Preview
from lookalike.gui.query_bar import QueryBar, chip_icon
from lookalike.gui.results import PhotoResults
from lookalike.gui.searching import Search
from lookalike.gui.settings import Settings
from lookalike.gui.setup import EmptyLibraryPage, ModelPage
from lookalike.gui.thumbnails import Thumbnails
from lookalike.gui.watching import FolderWatch
from lookalike.gui.workers import Task, start_task

log = logging.getLogger(__name__)

DEBOUNCE_MS = 250
BUSY_RETRY_MS = 60_000
BUSY_TEXT = (
    "Another Lookalike is updating this library (perhaps `lookalike index`); searching "
    "still works, and new photos are added here once it has finished."
)
ZOOM_STEP = 32
QUERY_IMAGES = "queries"


def load_model(folder: Path, variant: str = "float", preference: str = "auto") -> ClipModel:
    """Runs on the model thread: open the model and start both sessions, so
    the first search does not wait for them."""
    model = ClipModel(folder, visual_variant=variant, providers=provider_order(preference))
    model.encode_text(["a photo"])
    model.visual_input  # noqa: B018 - loading the visual session is the point
    return model


class MessageArea(QFrame):
    """Problems the person must see, above the grid until dismissed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.lines: list[str] = []
        self.hide()

    def add(self, text: str) -> None:
        self.lines = [*self.lines, text][-3:]
        self.label.setText("\n".join(self.lines))
        self.show()

    @Slot(str)
    def remove(self, text: str) -> None:
        """Take back a problem that has gone away by itself."""
        if text not in self.lines:
            return
        self.lines = [line for line in self.lines if line != text]
        self.label.setText("\n".join(self.lines))
        self.setVisible(bool(self.lines))

    def dismiss(self) -> None:
        self.lines = []
        self.hide()


class MainWindow(QMainWindow):
    def __init__(self, places: Places, model_dir: Path | None = None) -> None:
        super().__init__()
        self.places = places
        self.model_dir = model_dir
        self.settings = Settings.for_places(places)
        self.messages = Messages(self)
        self.library = Library(places)
        self.model: ClipModel | None = None  # the one searches use
        self._incoming: ClipModel | None = None  # the next one, indexing the library first
        self._retired: list[ClipModel] = []  # to close once no run uses them
        self._model_task: Task | None = None
        self._make_active = False
        self._quantizing: Task | None = None
        self._after_indexing: list[Callable[[], None]] = []
        self._started = False
        self._closed = False
        self._missing: set[str] = set()  # library folders the last indexing run did not find
        self._preview: Preview | None = None
        self.model_store = ModelStore(places.models)

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._build_widgets()
        self._build_status_bar()
        self._build_actions()
        self._connect()
        self._restore_geometry()

    # Building

    def _build_widgets(self) -> None:
        side = self.settings.get(registry.THUMBNAIL_SIZE)
        self.thumbnails = Thumbnails(self.places, self)
        self.results = PhotoResults(self.thumbnails, self)
        self.grid = PhotoGrid(self.thumbnails, side, self)
        self.grid.setModel(self.results)
        self.query_bar = QueryBar(self)
        self.message_area = MessageArea(self)
        self.model_page = ModelPage(self)
        self.downloads = Downloads(self.model_store, self.model_page, self.messages, self)
        self.empty_page = EmptyLibraryPage(self)
        self.pages = QStackedWidget(self)
        for page in (self.grid, self.model_page, self.empty_page):
            self.pages.addWidget(page)

        self.search = Search(
            self.library, self.results, self.messages, self.settings.get(registry.SEARCH_LIMIT),
            self,
        )  # fmt: skip
        self.indexing = Indexing(self.places, self)
        self.watch = FolderWatch(self)
        self.busy_retry = QTimer(self)
        self.busy_retry.setSingleShot(True)
        self.busy_retry.setInterval(BUSY_RETRY_MS)
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(DEBOUNCE_MS)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.query_bar)
        layout.addWidget(self.message_area)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.index_label = QLabel(self)
        self.index_progress = QProgressBar(self)
        self.index_progress.setMaximumWidth(140)
        self.index_progress.setTextVisible(False)
        self.index_progress.hide()
        self.pause_button = QToolButton(self)
        self.pause_button.setText("Pause")
        self.pause_button.setToolTip("Pause or resume indexing")
        self.pause_button.hide()
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.size_slider.setRange(registry.THUMBNAIL_SIZE.minimum or 64,
                                  registry.THUMBNAIL_SIZE.maximum or 320)  # fmt: skip
        self.size_slider.setSingleStep(16)
        self.size_slider.setPageStep(ZOOM_STEP)
        self.size_slider.setValue(self.grid.side)
        self.size_slider.setMaximumWidth(120)
        self.size_slider.setToolTip("Thumbnail size (Ctrl + plus / minus)")
        self.size_slider.setAccessibleName("Thumbnail size")
        self.count_label = QLabel(self)
        self.provider_label = QLabel("Model: loading…", self)
        for widget in (self.index_label, self.index_progress, self.pause_button,
                       self.size_slider, self.count_label, self.provider_label):  # fmt: skip
            bar.addPermanentWidget(widget)

    def _build_actions(self) -> None:
        menus = self.menuBar()
        library = menus.addMenu("&Library")
        self.add_folder_action = self._action(library, "&Add folder…", self.ask_for_folder,
                                              QKeySequence.StandardKey.Open)  # fmt: skip
        self.remove_menu = library.addMenu("&Remove folder")
        self.remove_menu.aboutToShow.connect(self._fill_remove_menu)
        self.rescan_action = self._action(library, "Re&scan", self.rescan,
                                          QKeySequence.StandardKey.Refresh)  # fmt: skip
        self.pause_action = self._action(library, "&Pause indexing", self.toggle_pause)
        library.addSeparator()
        self._action(library, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit = menus.addMenu("&Edit")
        self._action(edit, "&Find", self.focus_search, QKeySequence.StandardKey.Find, "Ctrl+L")
        self._action(edit, "&Paste image as query", self.paste_image,
                     QKeySequence.StandardKey.Paste)  # fmt: skip
        self._action(edit, "&Clear query", self.query_bar.clear)

        view = menus.addMenu("&View")
        self._action(view, "Zoom &in", lambda: self.zoom(1), QKeySequence.StandardKey.ZoomIn,
                     "Ctrl+=")  # fmt: skip
        self._action(view, "Zoom &out", lambda: self.zoom(-1), QKeySequence.StandardKey.ZoomOut)

        model = menus.addMenu("&Model")
        self.installed_menu = model.addMenu("&Use installed model")
        self.installed_menu.aboutToShow.connect(self._fill_installed_menu)
        self._action(model, "&Choose model folder…", self.model_page.ask_for_folder)
        self.download_action = self._action(model, "&Download the default model",
                                            self.downloads.toggle)  # fmt: skip
        model.addSeparator()
        self.fast_action = self._action(model, "&Fast indexing (int8)", self._toggle_fast)
        self.fast_action.setCheckable(True)
        self.fast_action.setEnabled(False)
        self.fast_action.setStatusTip(
            "Index with an 8-bit copy of the visual model: faster on a CPU, nearly the "
            "same results; the library is indexed again with it in the background"
        )

        help_menu = menus.addMenu("&Help")
        self._action(help_menu, f"&About {APP_NAME}", self.about)

    def _action(
        self,
        menu: QMenu,
        text: str,
        slot: Callable[[], object],
        *keys: QKeySequence.StandardKey | str,
    ) -> QAction:
        action = QAction(text, self)
        shortcuts: list[QKeySequence] = []
        for key in keys:
            if isinstance(key, str):
                shortcuts.append(QKeySequence(key))
            else:
                shortcuts.extend(QKeySequence.keyBindings(key))
        action.setShortcuts(shortcuts)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _connect(self) -> None:
        self.messages.posted.connect(self._on_message)
        self.messages.withdrawn.connect(self.message_area.remove)
        self.watch.changed.connect(self._on_folders_changed)
        self.busy_retry.timeout.connect(self.rescan)
        self.query_bar.edited.connect(self.debounce.start)
        self.query_bar.terms_changed.connect(self._run_query)
        self.query_bar.edit.image_pasted.connect(self.paste_image)
        self.query_bar.edit.leave_down.connect(self.focus_grid)
        self.debounce.timeout.connect(self._run_query)
        self.search.listed.connect(self._on_listed)
        self.search.shown.connect(self._on_shown)
        self.grid.activated.connect(lambda index: self.open_photos([index.row()]))
        self.grid.preview_requested.connect(self.preview_current)
        self.grid.customContextMenuRequested.connect(self._context_menu)
        self.size_slider.valueChanged.connect(self.set_thumbnail_size)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.model_page.model_chosen.connect(self.use_model)
        self.downloads.installed.connect(self.use_model)
        self.downloads.status.connect(self._on_status)
        self.downloads.running_changed.connect(self._on_download_running)
        self.empty_page.add_folder.connect(self.ask_for_folder)
        self.indexing.progressed.connect(self._on_index_progress)
        self.indexing.finished.connect(self._on_index_finished)
        self.indexing.failed.connect(self._on_index_failed)
        self.indexing.busy.connect(self._on_index_busy)
        self.indexing.state_changed.connect(self._on_index_state)

    def _restore_geometry(self) -> None:
        geometry = self.settings.get(registry.WINDOW_GEOMETRY)
        if not geometry or not self.restoreGeometry(geometry):
            self.resize(1100, 720)

    # Starting

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.query_bar.edit.setFocus()
            QTimer.singleShot(0, self.start)

    def start(self) -> None:
        """Begin the slow work, once the window is on screen."""
        if self._closed:
            return
        self.search.refresh_listing()
        self._watch_folders()
        if self.model_dir is not None:
            self.load_model(self.model_dir)
        elif self.library.active_model is not None:
            self.load_model(self.library.active_model, self.library.active_variant)
        else:
            self.pages.setCurrentWidget(self.model_page)
            self.provider_label.setText("No model")

    def load_model(self, folder: Path, variant: str = "float") -> None:
        if self._model_task is not None or self._closed:
            return
        self.provider_label.setText("Model: loading…")
        preference = self.settings.get(registry.EXECUTION_PROVIDER)
        self._model_task = start_task(
            "model",
            lambda: load_model(folder, variant, preference),
            self,
            self._on_model_loaded,
            lambda reason: self._on_model_failed(folder, reason),
            self._on_model_task_ended,
        )

    @Slot(Path)
    def use_model(self, folder: Path) -> None:
        """The person chose a model folder: make it the library's and load it."""
        self.model_dir = folder
        self._make_active = True
        self.load_model(folder)

    @Slot()
    def _toggle_fast(self) -> None:
        """Switch indexing to the int8 visual encoder, making it first if need
        be, or back to the float one. Like any change of model, the library is
        indexed again in the background while searches use the current one."""
        chosen = self._incoming or self.model
        if chosen is None or self._quantizing is not None:
            self.fast_action.setChecked(chosen is not None and chosen.visual_variant == "int8")
            return
        variant = "int8" if self.fast_action.isChecked() else "float"
        if variant == chosen.visual_variant:
            return
        folder = chosen.folder
        if variant == "int8" and not (folder / VISUAL_VARIANTS["int8"]).is_file():
            self.statusBar().showMessage(f"Making an int8 copy of {chosen.name}'s visual model…")
            self._quantizing = start_task(
                "quantize",
                lambda: quantize_visual(folder),
                self,
                self._on_quantized,
                self._on_quantize_failed,
                self._on_quantize_ended,
            )
            return
        self._use_variant(folder, variant)

    def _use_variant(self, folder: Path, variant: str) -> None:
        self.model_dir = folder
        self._make_active = True
        self.load_model(folder, variant)

    @Slot(object)
    def _on_quantized(self, made: Path) -> None:
        if not self._closed:
            self._use_variant(made.parent.parent, "int8")

    @Slot(str)
    def _on_quantize_failed(self, reason: str) -> None:
        self.fast_action.setChecked(False)
        self.messages.problem(f"Fast indexing is not available: {reason}", key="quantize")

    @Slot()
    def _on_quantize_ended(self) -> None:
        task, self._quantizing = self._quantizing, None
        if task is not None:
            task.deleteLater()

    def _fill_installed_menu(self) -> None:
        """The models in the data folder, the one in use checked."""
        self.installed_menu.clear()
        chosen = self._incoming or self.model
        current = chosen.folder.resolve() if chosen is not None else None
        installed = self.model_store.installed()
        for model in installed:
            action = self.installed_menu.addAction(model.name, partial(self.use_model, model.path))
            action.setCheckable(True)
            action.setChecked(model.path.resolve() == current)
        if not installed:
            self.installed_menu.addAction("None installed yet").setEnabled(False)

    @Slot(bool)
    def _on_download_running(self, running: bool) -> None:
        self.download_action.setText("Cancel the model &download" if running else
                                     "&Download the default model")  # fmt: skip

    @Slot(str, int)
    def _on_status(self, text: str, milliseconds: int) -> None:
        if text:
            self.statusBar().showMessage(text, milliseconds)
        else:
            self.statusBar().clearMessage()

    @Slot(object)
    def _on_model_loaded(self, model: ClipModel) -> None:
        if self._closed:
            model.close()
            return
        if self._make_active or self.library.active_model is None:
            self.library.use_model(model.folder, model.visual_variant)
            self._make_active = False
        self.messages.forget("model")
        if self._incoming is not None:  # chosen before, but this one was chosen since
            self._retired.append(self._incoming)
            self._incoming = None
        if self.model is not None and self.library.folders():
            self._switch_after_indexing(model)
            return
        if self.model is not None:  # nothing to index: switch now
            self._retired.append(self.model)
            self.indexing.stop(wait=False)
            if not self.indexing.running:
                self._close_retired()
        self._switch_to(model)
        self._show_page()
        self.rescan()

    def _switch_after_indexing(self, model: ClipModel) -> None:
        """Index the library with `model` while searches go on with the current
        model; `_on_index_finished` switches over when that run is complete."""
        assert self.model is not None
        self._incoming = model
        self.provider_label.setText(f"Switching to {model.name}…")
        self.statusBar().showMessage(
            f"Indexing the library with {model.name}; searches use {self.model.name} "
            "until it is done.",
            8000,
        )
        self.indexing.stop(wait=False)  # a run with the old model would be wasted
        self.rescan()

    def _switch_to(self, model: ClipModel) -> None:
        self.model = model
        self.fast_action.setEnabled(True)
        self.fast_action.setChecked(model.visual_variant == "int8")
        dropped = model.dropped_providers
        unused = ", ".join(dict.fromkeys(reason.split()[0] for reason in dropped))
        self.provider_label.setText(
            f"Runs on {model.provider}" + (f" ({unused} unavailable)" if dropped else "")
        )
        self.provider_label.setToolTip(self._provider_details(model))
        if dropped:
            self.messages.info(f"{dropped[0]}; Lookalike runs on the {model.provider} instead.")
        log.info("Model %s ready on %s", model.name, model.provider)
        self.search.set_model(model)

    def _provider_details(self, model: ClipModel) -> str:
        lines = [f"Model {model.name}, running on {model.provider}", *model.dropped_providers]
        preference = self.settings.get(registry.EXECUTION_PROVIDER)
        if preference != "auto":
            lines.append(f"Preferred: {preference}")
        return "\n".join(lines)

    def _on_model_failed(self, folder: Path, reason: str) -> None:
        text = (
            f"The model in {folder} could not be loaded: {reason}. "
            "Choose a working model folder to search and index."
        )
        self.messages.problem(text, key="model")
        self.model_page.show_problem(text)
        self.provider_label.setText("No model")
        if self.model is None:
            self.pages.setCurrentWidget(self.model_page)

    @Slot()
    def _on_model_task_ended(self) -> None:
        task, self._model_task = self._model_task, None
        if task is not None:
            task.deleteLater()

    def _show_page(self) -> None:
        if self.model is None and self._model_task is None:
            self.pages.setCurrentWidget(self.model_page)
        elif not self.library.folders():
            self.pages.setCurrentWidget(self.empty_page)
        else:
            self.pages.setCurrentWidget(self.grid)

    # Querying

    @Slot()
    def _run_query(self) -> None:
        self.debounce.stop()
        self.search.set_query(self.query_bar.query())

    def focus_search(self) -> None:
        self.query_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.query_bar.edit.selectAll()

    def focus_grid(self) -> None:
        if self.results.rowCount():
            self.grid.setFocus()
            if not self.grid.currentIndex().isValid():
                self.grid.setCurrentIndex(self.results.index(0, 0))

    def add_image_query(self, path: str) -> None:
        self.query_bar.add_chip(TermKind.IMAGE, path, os.path.basename(path), chip_icon(path))

    def find_similar(self, rows: list[int]) -> None:
        """Query by these photos of the library, instead of the current query."""
        self.query_bar.clear()
        for row in rows[:8]:
            path = self.results.path(row)
            name = os.path.basename(path)
            self.query_bar.add_chip(
                TermKind.PHOTO, str(self.results.photo_id(row)), f"like {name}", chip_icon(path)
            )

    def paste_image(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not self._take_image_data(mime):
            self.statusBar().showMessage("The clipboard holds no image to search with.", 4000)

    def _take_image_data(self, mime: QMimeData) -> bool:
        """Save image data (pasted, or dragged from a browser) as a query image."""
        if not mime.hasImage():
            return False
        image = mime.imageData()
        if not isinstance(image, QImage) or image.isNull():
            return False
        path = self._save_query_image(image)
        if path is None:
            return False
        self.add_image_query(str(path))
        return True

    def _save_query_image(self, image: QImage) -> Path | None:
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stub is wrong: str works
        data = bytes(buffer.data().data())
        folder = self.places.cache / QUERY_IMAGES
        path = folder / f"{content_hash(data).hex()}.png"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except OSError as error:
            self.messages.problem(f"The image cannot be saved in {folder} to search with: {error}.")
            return None
        return path

    @Slot(int)
    def _on_listed(self, count: int) -> None:
        self.count_label.setText(f"{count:,} photos")
        if self.model is not None:
            self._show_page()

    @Slot(str)
    def _on_shown(self, text: str) -> None:
        if text:
            self.statusBar().showMessage(text, 5000)
        else:
            self.statusBar().clearMessage()

    # Thumbnails

    def zoom(self, steps: int) -> None:
        self.size_slider.setValue(self.grid.side + steps * ZOOM_STEP)

    @Slot(int)
    def set_thumbnail_size(self, side: int) -> None:
        self.grid.set_side(side)
        self.settings.set(registry.THUMBNAIL_SIZE, side)

    # Photos

    def open_photos(self, rows: list[int]) -> None:
        for row in rows[:20]:
            path = self.results.path(row)
            if not self._reachable(path):
                continue
            if not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
                self.messages.problem(
                    f"No program is set up to open {os.path.basename(path)}; "
                    "set a default image viewer in your system settings.",
                    key="open",
                )

    def _reachable(self, path: str) -> bool:
        """Whether the photo's file is there; if not, say why it cannot be used."""
        if os.path.exists(path):
            return True
        self._say_offline(path)
        return False

    def _say_offline(self, path: str) -> None:
        """Once per library folder until it is back: the drive seems unplugged."""
        folder = os.path.dirname(path)
        root = next((f.path for f in self.library.folders()
                     if path.startswith(f.path.rstrip(os.sep) + os.sep)), folder)  # fmt: skip
        self.messages.problem(
            f"{os.path.basename(path)} is not available: its folder {folder} cannot be reached "
            "now. The drive it is on seems to be unplugged; plug it in and try again.",
            key=f"offline:{root}",
        )

    def preview_current(self) -> None:
        index = self.grid.currentIndex()
        if not index.isValid():
            return
        path = self.results.path(index.row())
        if not self._reachable(path):
            return
        if self._preview is None:
            self._preview = Preview(self)
        self._preview.show_photo(path, self.library.catalogue.taken_at(path))

    def _context_menu(self, position: QPoint) -> None:
        index = self.grid.indexAt(position)
        if not index.isValid():
            return
        if not self.grid.selectionModel().isSelected(index):
            self.grid.setCurrentIndex(index)
        rows = self.grid.selected_rows() or [index.row()]
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_photos(rows))
        menu.addAction("Preview", self.preview_current)
        menu.addAction("Find similar", lambda: self.find_similar(rows))
        menu.addSeparator()
        menu.addAction("Show in folder", lambda: self.show_in_folder(index.row()))
        menu.addAction("Copy path" if len(rows) == 1 else "Copy paths",
                       lambda: self.copy_paths(rows))  # fmt: skip
        menu.addAction("Copy image", lambda: self.copy_image(index.row()))
        menu.exec(self.grid.viewport().mapToGlobal(position))
        menu.deleteLater()

    def show_in_folder(self, row: int) -> None:
        path = self.results.path(row)
        if not self._reachable(path):
            return
        folder = os.path.dirname(path)
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(folder)):
            self.messages.problem(f"No file manager could show {folder}.", key="show-folder")

    def copy_paths(self, rows: list[int]) -> None:
        QGuiApplication.clipboard().setText("\n".join(self.results.path(r) for r in rows))

    def copy_image(self, row: int) -> None:
        path = self.results.path(row)
        if not self._reachable(path):
            return
        image = QImage(path)
        if image.isNull():
            self.messages.problem(f"{path} cannot be read to copy it.", key=f"copy:{path}")
            return
        QGuiApplication.clipboard().setImage(image)

    # Library

    def ask_for_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if folder:
            self.add_folders([Path(folder)])

    def add_folders(self, folders: list[Path]) -> None:
        added = self.library.add_folders(folders)
        for folder in added:
            self.messages.forget(f"missing:{folder.path}")
        names = ", ".join(os.path.basename(f.path) or f.path for f in added)
        self.statusBar().showMessage(f"Added {names}; looking for photos…", 5000)
        self.search.library_changed()
        self._watch_folders()
        self._show_page()
        self.rescan()

    def remove_folder(self, path: str) -> None:
        """Forget a folder, once any indexing run has stopped writing to it."""
        if self.indexing.running:
            self._after_indexing.append(lambda: self.remove_folder(path))
            self.indexing.stop(wait=False)
            self.statusBar().showMessage(f"Removing {path} once indexing has stopped…")
            return
        self.library.remove_folder(Path(path))
        self.statusBar().showMessage(f"Removed {path} from the library", 5000)
        self.search.library_changed()
        self._watch_folders()
        self._show_page()
        self.rescan()

    def _fill_remove_menu(self) -> None:
        self.remove_menu.clear()
        folders = self.library.folders()
        for folder in folders:
            self.remove_menu.addAction(folder.path, partial(self.remove_folder, folder.path))
        if not folders:
            self.remove_menu.addAction("No folders yet").setEnabled(False)

    def rescan(self) -> None:
        model = self._incoming or self.model
        if self._closed or model is None or not self.library.folders():
            return
        self.busy_retry.stop()
        self.indexing.start(model, self.settings.get(registry.INDEX_THREADS))

    def _watch_folders(self) -> None:
        self.watch.watch([Path(folder.path) for folder in self.library.folders()])

    @Slot(list)
    def _on_folders_changed(self, folders: list[Path]) -> None:
        """Photos may have come, changed or gone: index again (after the run
        that is going, if any)."""
        log.info("Looking again at %s", ", ".join(map(str, folders)))
        self.rescan()

    def toggle_pause(self) -> None:
        if self.indexing.state is State.PAUSED:
            self.indexing.resume()
        else:
            self.indexing.pause()

    @Slot(object)
    def _on_index_progress(self, progress: Progress) -> None:
        self.index_progress.setRange(0, max(progress.total, 1))
        self.index_progress.setValue(progress.done)
        self.index_progress.show()
        verb = "Paused at" if self.indexing.state is State.PAUSED else "Indexing"
        self.index_label.setText(
            f"{verb} {progress.done:,} of {progress.total:,} · {progress.rate:.0f}/s"
        )

    @Slot(object)
    def _on_index_finished(self, report: IndexReport) -> None:
        if self._closed:
            return
        self.messages.forget("busy")
        missing = {str(folder) for folder in report.missing_folders}
        for known in self.library.folders():
            if known.path not in missing:  # back, if it was gone: say no more about it
                self.messages.forget(f"missing:{known.path}")
                self.messages.forget(f"offline:{known.path}")
        drives_changed, self._missing = missing != self._missing, missing
        for folder in report.missing_folders:
            self.messages.problem(
                f"The folder {folder} cannot be found. Its photos stay searchable; "
                "reconnect the drive it is on, or remove it (Library ▸ Remove folder).",
                key=f"missing:{folder}",
            )
        if report.failed:
            self.statusBar().showMessage(
                f"{len(report.failed)} files could not be read; `lookalike status` lists them.",
                8000,
            )
        incoming = self._incoming
        switched = incoming is not None and incoming is self.indexing.model and not report.cancelled
        if switched:
            self._switch_over()
        changed = report.encoded + report.reused + report.moved + report.removed
        if changed or report.scanned or drives_changed or switched:
            self.search.library_changed()  # also shows which photos are offline now
        text = "Indexing stopped" if report.cancelled else "Up to date"
        if report.encoded:
            text += f" · {report.encoded:,} photos added"
        self.index_label.setText(text)

    def _switch_over(self) -> None:
        """The incoming model has indexed the whole library: searches use it now."""
        incoming, self._incoming = self._incoming, None
        assert incoming is not None
        if self.model is not None:
            self.model.close()
        self._switch_to(incoming)
        self.statusBar().showMessage(f"Searching with {incoming.name} now", 5000)

    @Slot(str)
    def _on_index_failed(self, reason: str) -> None:
        self.messages.problem(
            f"Indexing could not go on: {reason}. Library ▸ Rescan tries again; "
            "the log has the details."
        )

    @Slot(str)
    def _on_index_busy(self, reason: str) -> None:
        """Another process holds the library's writer lock: say so once, and
        try again on the next change in the folders or after a while."""
        self.messages.problem(BUSY_TEXT, key="busy")
        self.index_label.setText("Waiting for the other Lookalike")
        if not self._closed:
            self.busy_retry.start()

    @Slot(object)
    def _on_index_state(self, state: State) -> None:
        busy = state is not State.IDLE
        if not busy:
            self._close_retired()
        if not busy and self._after_indexing and not self._closed:
            waiting, self._after_indexing = self._after_indexing, []
            for action in waiting:
                action()
        self.pause_button.setVisible(busy)
        self.pause_button.setText("Resume" if state is State.PAUSED else "Pause")
        self.pause_action.setText("&Resume indexing" if state is State.PAUSED else
                                  "&Pause indexing")  # fmt: skip
        if not busy:
            self.index_progress.hide()
        elif state is State.RUNNING and not self.index_progress.isVisible():
            self.index_label.setText("Looking for new photos…")
        elif state is State.PAUSED:
            self.index_label.setText(self.index_label.text().replace("Indexing", "Paused at"))

    def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for model in retired:
            model.close()

    # Messages

    @Slot(object)
    def _on_message(self, message: Message) -> None:
        if message.level is Level.PROBLEM:
            self.message_area.add(message.text)
        else:
            self.statusBar().showMessage(message.text, 5000)

    # Drops

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _droppable(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if _droppable(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        folders, images = _dropped_files(mime)
        if folders:
            self.add_folders(folders)
        for image in images:
            self.add_image_query(str(image))
        if not folders and not images and not self._take_image_data(mime):
            self.messages.info(
                "Only images and folders on this computer can be dropped; save a web image first."
            )
            return
        event.acceptProposedAction()

    # Closing

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.set(registry.WINDOW_GEOMETRY, bytes(self.saveGeometry().data()))
        self.settings.sync()
        self.shut_down()
        super().closeEvent(event)

    def shut_down(self) -> None:
        """Stop every thread and close the library; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.debounce.stop()
        self.busy_retry.stop()
        self.watch.stop()
        self._after_indexing = []
        for sender in (self.indexing, self.search, self.thumbnails):
            sender.blockSignals(True)
        self.indexing.stop(wait=True)
        self.thumbnails.close()
        self.search.wait()
        for task in (self._model_task, self._quantizing):
            if task is not None:
                task.blockSignals(True)
                task.wait()
        self.downloads.close()
        if self._preview is not None:
            self._preview.close()
        self.library.close()
        self._close_retired()
        for model in (self.model, self._incoming):
            if model is not None:
                model.close()
        log.info("Window closed; all work stopped")

    def about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_NAME}",
            f"<b>{APP_NAME} {__version__}</b><p>Finds photos by what they show. "
            "Everything stays on this computer.</p>",
        )


def _droppable(mime: QMimeData) -> bool:
    return mime.hasUrls() or mime.hasImage()


def _dropped_files(mime: QMimeData) -> tuple[list[Path], list[Path]]:
    """The local folders and image files among dropped URLs."""
    folders: list[Path] = []
    images: list[Path] = []
    for url in mime.urls():
        if not url.isLocalFile():
            continue
        path = Path(url.toLocalFile())
        if path.is_dir():
            folders.append(path)
        elif path.is_file() and is_photo_name(path.name):
            images.append(path)
    return folders, images
