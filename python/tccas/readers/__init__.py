"""Readers that turn third-party site data files into :class:`tccas.io.Forcing`.

- :func:`read_fluxnet_forcing`: FLUXNET2015 (FULLSET/SUBSET) and ICOS ETC L2 CSV files in the
  FLUXNET column layout, half-hourly, hourly or daily, to hourly forcing in canonical units.
"""
from .fluxnet import read_fluxnet_forcing

__all__ = ["read_fluxnet_forcing"]
