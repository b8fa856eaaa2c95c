-- flare-plus storage, SQLite. Same tables and columns as the PostgreSQL migration.
-- Timestamps are INTEGER microseconds since 1970-01-01T00:00:00Z (UTC): integer order is time
-- order, so range filters and ORDER BY are plain integer comparisons. Tables are STRICT (a value
-- of the wrong type is an error) and the CHECKs enforce what PostgreSQL's VARCHAR(n) enforces.
-- SQLite stores a bound NaN as NULL; the store refuses NaN before it gets here anyway.

CREATE TABLE flare_goes_xray_flux (
    id                           INTEGER PRIMARY KEY,
    feed                         TEXT    NOT NULL CHECK (feed IN ('primary', 'secondary')),
    timestamp                    INTEGER NOT NULL,
    flux_short                   REAL,
    flux_long                    REAL,
    satellite                    INTEGER,
    data_quality                 TEXT    NOT NULL CHECK (data_quality IN ('good', 'missing')),
    electron_contamination_short INTEGER,
    electron_contamination_long  INTEGER,
    ingested_at                  INTEGER NOT NULL,
    CONSTRAINT uq_xray_feed_timestamp UNIQUE (feed, timestamp)
) STRICT;

CREATE TABLE flare_solar_regions (
    id                 INTEGER PRIMARY KEY,
    timestamp          INTEGER NOT NULL,
    region_number      INTEGER NOT NULL,
    latitude           REAL,
    longitude          REAL,
    mcintosh_class     TEXT CHECK (length(mcintosh_class) <= 10),
    mount_wilson_class TEXT CHECK (length(mount_wilson_class) <= 10),
    area               INTEGER,
    num_sunspots       INTEGER,
    magnetic_type      TEXT CHECK (length(magnetic_type) <= 20),
    source_order       INTEGER NOT NULL,
    ingested_at        INTEGER NOT NULL,
    CONSTRAINT uq_region_timestamp UNIQUE (region_number, timestamp)
) STRICT;
CREATE INDEX ix_flare_solar_regions_timestamp ON flare_solar_regions (timestamp);

CREATE TABLE flare_event_candidates (
    id              INTEGER PRIMARY KEY,
    candidate_key   TEXT    NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('auto_detected', 'nasa_donki')),
    external_id     TEXT CHECK (length(external_id) <= 100),
    start_time      INTEGER NOT NULL,
    peak_time       INTEGER NOT NULL,
    end_time        INTEGER,
    flare_class     TEXT    NOT NULL CHECK (length(flare_class) <= 5),
    class_category  TEXT    NOT NULL CHECK (class_category IN ('A', 'B', 'C', 'M', 'X')),
    class_magnitude REAL    NOT NULL,
    active_region   INTEGER,
    location        TEXT CHECK (length(location) <= 20),
    verified        INTEGER NOT NULL,
    ingested_at     INTEGER NOT NULL,
    CONSTRAINT uq_flare_event_candidates_key UNIQUE (candidate_key)
) STRICT;
CREATE INDEX ix_flare_event_candidates_peak_time ON flare_event_candidates (peak_time);

CREATE TABLE flare_events (
    id              INTEGER PRIMARY KEY,
    start_time      INTEGER NOT NULL,
    peak_time       INTEGER NOT NULL,
    end_time        INTEGER,
    flare_class     TEXT    NOT NULL CHECK (length(flare_class) <= 5),
    class_category  TEXT    NOT NULL CHECK (length(class_category) = 1),
    class_magnitude REAL    NOT NULL,
    active_region   INTEGER,
    location        TEXT CHECK (length(location) <= 20),
    source          TEXT    NOT NULL,
    verified        INTEGER NOT NULL DEFAULT 0,
    ingested_at     INTEGER NOT NULL,
    candidate_key   TEXT    NOT NULL,
    external_id     TEXT,
    CONSTRAINT uq_flare_events_candidate_key UNIQUE (candidate_key)
) STRICT;
CREATE INDEX ix_flare_events_start_time ON flare_events (start_time);
CREATE INDEX ix_flare_events_peak_time ON flare_events (peak_time);
CREATE INDEX ix_flare_events_class_category ON flare_events (class_category);

CREATE TABLE flare_solar_magnetogram (
    id                      INTEGER PRIMARY KEY,
    timestamp               INTEGER NOT NULL,
    region_number           INTEGER NOT NULL,
    magnetic_field_strength REAL,
    magnetic_field_polarity TEXT,
    magnetic_complexity     TEXT,
    latitude                REAL,
    longitude               REAL,
    solar_radius            REAL,
    source                  TEXT DEFAULT 'noaa_swpc',
    data_quality            TEXT,
    ingested_at             INTEGER,
    CONSTRAINT uq_magnetogram_region_timestamp UNIQUE (region_number, timestamp)
) STRICT;
CREATE INDEX ix_flare_solar_magnetogram_timestamp ON flare_solar_magnetogram (timestamp);

CREATE TABLE flare_ingestion_log (
    id               INTEGER PRIMARY KEY,
    run_timestamp    INTEGER NOT NULL,
    source_name      TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    records_fetched  INTEGER NOT NULL DEFAULT 0,
    records_inserted INTEGER NOT NULL DEFAULT 0,
    records_updated  INTEGER NOT NULL DEFAULT 0,
    data_start_time  INTEGER,
    data_end_time    INTEGER,
    error_message    TEXT,
    duration_seconds REAL
) STRICT;
CREATE INDEX ix_flare_ingestion_log_run_timestamp ON flare_ingestion_log (run_timestamp);

CREATE TABLE solar_flare_events (
    id                INTEGER PRIMARY KEY,
    external_id       TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    begin_time        INTEGER,
    peak_time         INTEGER,
    end_time          INTEGER,
    class_type        TEXT CHECK (length(class_type) <= 10),
    source_location   TEXT CHECK (length(source_location) <= 50),
    active_region_num INTEGER,
    instruments       TEXT,
    linked_events     TEXT,
    raw_payload       TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    CONSTRAINT uq_solar_flare_events_ext_source UNIQUE (external_id, source)
) STRICT;
CREATE INDEX ix_solar_flare_events_external_id ON solar_flare_events (external_id);
CREATE INDEX ix_solar_flare_events_source ON solar_flare_events (source);
CREATE INDEX ix_solar_flare_events_begin_time ON solar_flare_events (begin_time);
CREATE INDEX ix_solar_flare_events_peak_time ON solar_flare_events (peak_time);
CREATE INDEX ix_solar_flare_events_end_time ON solar_flare_events (end_time);
