"""Location ids the SDK accepts as plain strings but the cloud rejects at apply time.

Kept as data so config validation and the offline checks share one list.
"""

from __future__ import annotations

# Cloud Run / Compute regions that also host Firestore, Secret Manager and Cloud Scheduler.
GCP_REGIONS: frozenset[str] = frozenset(
    {
        "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
        "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
        "australia-southeast1", "australia-southeast2",
        "europe-central2", "europe-north1", "europe-southwest1", "europe-west1", "europe-west2",
        "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9",
        "europe-west10", "europe-west12",
        "me-central1", "me-central2", "me-west1",
        "northamerica-northeast1", "northamerica-northeast2", "northamerica-south1",
        "southamerica-east1", "southamerica-west1",
        "us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
        "us-west1", "us-west2", "us-west3", "us-west4",
    }
)  # fmt: skip

# Firestore multi-region location ids and the regions each one spans (for "backups elsewhere" rules).
FIRESTORE_MULTI_REGIONS: dict[str, frozenset[str]] = {
    "nam5": frozenset({"us-central1", "us-central2", "us-east1", "us-east4", "us-west1"}),
    "eur3": frozenset({"europe-west1", "europe-west4", "europe-north1"}),
}

FIRESTORE_LOCATIONS: frozenset[str] = GCP_REGIONS | frozenset(FIRESTORE_MULTI_REGIONS)

# Realtime Database is offered in three regions only.
RTDB_REGIONS: frozenset[str] = frozenset({"us-central1", "europe-west1", "asia-southeast1"})

# Storage multi-regions usable for buckets; plain regions are also valid bucket locations.
STORAGE_MULTI_REGIONS: frozenset[str] = frozenset({"US", "EU", "ASIA"})


def rtdb_region_for(region: str) -> str:
    """The Realtime Database region nearest to a GCP region."""
    if region in RTDB_REGIONS:
        return region
    if region.startswith(("europe-", "me-")):
        return "europe-west1"
    if region.startswith(("asia-", "australia-")):
        return "asia-southeast1"
    return "us-central1"


def firestore_spans(location: str) -> frozenset[str]:
    """The GCP regions a Firestore location stores data in."""
    return FIRESTORE_MULTI_REGIONS.get(location, frozenset({location}))


# BigQuery multi-regions and the Cloud KMS location whose keys can encrypt a dataset there (a multi-region
# dataset takes its CMEK from the matching multi-region: US -> us, EU -> europe).
BIGQUERY_MULTI_REGIONS: dict[str, str] = {"US": "us", "EU": "europe"}


def bigquery_location_for(region: str) -> str:
    """The analytics dataset's location for a primary region: its multi-region (US, EU), where Firebase's
    exports live by default, or the region itself where BigQuery has no multi-region (asia, ...)."""
    if region.startswith("us-"):
        return "US"
    if region.startswith("europe-"):
        return "EU"
    return region


def kms_location_for(bigquery_location: str) -> str:
    """The Cloud KMS location of keys that may encrypt a dataset in ``bigquery_location``."""
    return BIGQUERY_MULTI_REGIONS.get(bigquery_location, bigquery_location)
