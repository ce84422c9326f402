"""The `metrics_service` extension: the native API and Prometheus's HTTP API on one starlette app."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from starlette.applications import Starlette

from backend.metrics.catalog import Catalog, Family, Part, Selection, StoredMetric
from backend.metrics.config import MetricsServiceConfig
from backend.metrics.native_api import native_routes
from backend.metrics.prometheus_api import prometheus_routes
from backend.metrics.promql.matchers import Matcher, RegexMatcher
from backend.service import QueryService, Store, service_app
from collector.auth.principal import TenantScope, current_scope


class TenantCatalog(Catalog):
    """A catalog whose cache of metric names is kept per tenant scope, so no tenant sees another's names.

    Unrestricted callers use this catalog's own cache; each restricted scope gets a `Catalog` of its own
    (the `max_scopes` most recently used are kept).
    """

    def __init__(self, store: Store, max_age: float = 30.0, max_scopes: int = 256) -> None:
        super().__init__(store, max_age)
        self.max_scopes = max_scopes
        self._scoped: OrderedDict[TenantScope, Catalog] = OrderedDict()

    def _restricted(self) -> Catalog | None:
        """The current scope's catalog (None when the caller is unrestricted)."""
        scope = current_scope.get()
        if scope is None or not scope.restricted:
            return None
        catalog = self._scoped.get(scope)
        if catalog is None:
            catalog = self._scoped[scope] = Catalog(self.store, self.max_age)
            while len(self._scoped) > self.max_scopes:
                self._scoped.popitem(last=False)
        else:
            self._scoped.move_to_end(scope)
        return catalog

    async def metrics(
        self, start_ns: int | None = None, end_ns: int | None = None, fresh: bool = False
    ) -> dict[StoredMetric, str]:
        if (catalog := self._restricted()) is not None:
            return await catalog.metrics(start_ns, end_ns, fresh)
        return await super().metrics(start_ns, end_ns, fresh)

    async def families(self, start_ns: int | None = None, end_ns: int | None = None) -> dict[str, Family]:
        if (catalog := self._restricted()) is not None:
            return await catalog.families(start_ns, end_ns)
        return await super().families(start_ns, end_ns)

    async def series_names(
        self, start_ns: int | None = None, end_ns: int | None = None
    ) -> dict[str, list[tuple[StoredMetric, Part]]]:
        if (catalog := self._restricted()) is not None:
            return await catalog.series_names(start_ns, end_ns)
        return await super().series_names(start_ns, end_ns)

    async def select(
        self,
        matchers: Sequence[Matcher],
        start_ns: int,
        end_ns: int,
        limit: int,
        regex: RegexMatcher | None = None,
    ) -> Selection:
        if (catalog := self._restricted()) is not None:
            return await catalog.select(matchers, start_ns, end_ns, limit, regex)
        return await super().select(matchers, start_ns, end_ns, limit, regex)


class MetricsService(QueryService):
    """Serves `/v1/...` (native, OTel names) and `/api/v1/...` (Prometheus) over the metric tables."""

    title = "airis metrics service"
    graph_domain = "metrics"
    config: MetricsServiceConfig

    def build(self, store: Store) -> Starlette:
        catalog = TenantCatalog(store)
        return service_app(
            self.title,
            [*native_routes(store, self.config), *prometheus_routes(store, self.config, catalog)],
        )


__all__ = ["MetricsService", "TenantCatalog"]
