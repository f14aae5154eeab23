"""The ARD routes' bodies and parameters (:mod:`gossipreg.io.api.ard`), apart from
:mod:`gossipreg.io.api.models` so that a node imports them at its first ARD request only; the
same rules as there."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from gossipreg.io.api.models import Says, _Body, _Params

__all__ = ["ArdAgentsParams", "ArdExploreIn", "ArdQuery", "ArdScope", "ArdSearchIn", "Facets"]


class ArdQuery(_Body):
    """ARD's query: free text and a filter of field path -> value(s)."""

    text: Annotated[str, Field(min_length=1, pattern=r"\S"),
                    Says("query.text must be a non-empty string")]
    filter: Annotated[dict[str, Any] | None,
                      Says("query.filter must be an object of field path -> values")] = None


class ArdScope(_Body):
    """ARD's query for Explore: the text is optional."""

    text: Annotated[str | None, Says("query.text must be a string")] = None
    filter: Annotated[dict[str, Any] | None,
                      Says("query.filter must be an object of field path -> values")] = None


_PAGE_SIZE = Says("pageSize must be an integer in 1..100")


class ArdSearchIn(_Body):
    """``POST /ard/v1/search``."""

    query: Annotated[ArdQuery, Says("query must be an object with text and filter")]
    federation: Annotated[Literal["auto", "referrals", "none"],
                          Says("federation must be auto, referrals or none")] = "auto"
    pageSize: Annotated[int, Field(ge=1, le=100), _PAGE_SIZE] = 10
    pageToken: str | None = None


class Facets(_Body):
    """What ``POST /ard/v1/explore`` counts: ``[{"field", "limit", "minCount"}]``."""

    facets: list[dict[str, Any]]


class ArdExploreIn(_Body):
    """``POST /ard/v1/explore``."""

    query: Annotated[ArdScope | None, Says("query must be an object with text and filter")] \
        = None
    resultType: Annotated[Facets, Says("resultType must be an object with facets")]


class ArdAgentsParams(_Params):
    """``GET /ard/v1/agents``."""

    filter: str | None = Field(None, description="a JSON object of field path -> values")
    pageSize: Annotated[int, Field(ge=1, le=100, description="page size"), _PAGE_SIZE] = 20
    pageToken: str | None = Field(None, description="the next page")
