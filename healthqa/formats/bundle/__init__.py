"""Offline review bundles (exchange.py explains the design): rows.py the tables a
bundle carries, manifest.py its manifest and checksum, read.py the safe
opening of a file, merge.py the merge into a workspace."""

from .exchange import BundleExportReport, SUFFIX, export_bundle, import_bundle, verify_bundle
from .manifest import MANIFEST_KEY, Manifest, content_checksum
from .merge import BundleImportReport
from .read import read_bundle
from .rows import BundleError, KINDS
