"""The config models' common bases: strict (unknown keys are errors, values frozen) and the id pattern."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Ids of channels, checks, promotions, notices, notifiers and actuators: safe in URLs, labels and file names.
SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"  # ids: channels, checks, locations (they end up in URLs and labels)
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]


class Strict(BaseModel):
    """A config section: an unknown key is an error (with the allowed keys named), values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
