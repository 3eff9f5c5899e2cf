"""Where the projection lives: Cassandra when `CASSANDRA_CONTACT_POINTS` is set."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import refuse_renamed

Consistency = Literal["ONE", "LOCAL_ONE", "LOCAL_QUORUM", "QUORUM", "EACH_QUORUM", "ALL"]


class CassandraSettings(BaseSettings):
    """`CASSANDRA_*` variables, shared by the projector and the orders service's read API."""

    model_config = SettingsConfigDict(env_prefix="CASSANDRA_", env_file=".env", extra="ignore")

    # Comma-separated hosts; empty means "no Cassandra": the Postgres store is used.
    contact_points: str = ""
    port: int = Field(default=9042, ge=1, le=65535)
    keyspace: str = Field(default="shop_history", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    # SimpleStrategy for one node; NetworkTopologyStrategy (RF 3 per DC) in a cluster.
    replication_class: Literal["SimpleStrategy", "NetworkTopologyStrategy"] = "SimpleStrategy"
    replication_factor: int = Field(default=1, ge=1)
    local_dc: str = Field(default="dc1", pattern=r"^[A-Za-z0-9_.-]+$")
    consistency: Consistency = "LOCAL_QUORUM"
    read_consistency: Consistency | None = None
    write_consistency: Consistency | None = None
    request_timeout_seconds: float = Field(default=5.0, gt=0)
    # Writes in flight at once while applying a batch of folds.
    max_in_flight: int = Field(default=128, ge=1)
    username: str = ""
    password: str = ""

    @model_validator(mode="after")
    def _refuse_renamed_variables(self) -> CassandraSettings:
        refuse_renamed("CASSANDRA_", {"REQUEST_TIMEOUT_S": "REQUEST_TIMEOUT_SECONDS"})
        return self

    @property
    def hosts(self) -> list[str]:
        return [host.strip() for host in self.contact_points.split(",") if host.strip()]

    def replication(self) -> dict[str, str | int]:
        if self.replication_class == "SimpleStrategy":
            return {"class": "SimpleStrategy", "replication_factor": self.replication_factor}
        return {"class": "NetworkTopologyStrategy", self.local_dc: self.replication_factor}


class HistorySettings(BaseSettings):
    """`ORDERS_HISTORY_*`: the projector worker's own knobs."""

    model_config = SettingsConfigDict(env_prefix="ORDERS_HISTORY_", env_file=".env", extra="ignore")

    # Port of the worker's Prometheus endpoint (0: none); the lag gauge is served there.
    metrics_port: int = Field(default=9310, ge=0, le=65535)
    lag_interval_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _refuse_renamed_variables(self) -> HistorySettings:
        refuse_renamed("ORDERS_HISTORY_", {"LAG_INTERVAL_S": "LAG_INTERVAL_SECONDS"})
        return self
