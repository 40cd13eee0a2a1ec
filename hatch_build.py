"""Ship the compiled message catalogues (.mo) in the wheel: ``mailer/locale/*/LC_MESSAGES``.

The .po files are the source (in git); the .mo files are built here, into a temporary
folder, so a checkout stays clean. An editable install compiles them on first use
(``mailer.i18n.compiled``) and needs nothing from here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompileCatalogues(BuildHookInterface):  # type: ignore[misc]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        out = Path(tempfile.mkdtemp(prefix="mailer-mo-"))
        for po in sorted(Path(self.root, "mailer", "locale").glob("*/LC_MESSAGES/mailer.po")):
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parent.parent.name, domain="mailer")
            mo = out / po.parent.parent.name / "mailer.mo"
            mo.parent.mkdir(parents=True)
            with mo.open("wb") as target:
                write_mo(target, catalog, use_fuzzy=False)
            relative = po.relative_to(self.root).with_suffix(".mo")
            build_data["force_include"][str(mo)] = str(relative)
