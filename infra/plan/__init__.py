"""Offline plan: the Pulumi program under the SDK's mock engine, recorded as an inventory."""
