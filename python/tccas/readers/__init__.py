"""Readers that turn third-party data files into tccas inputs.

- :func:`read_fluxnet_forcing`: FLUXNET2015 (FULLSET/SUBSET) and ICOS ETC L2 CSV files in the
  FLUXNET column layout, half-hourly, hourly or daily, to hourly forcing in canonical units.
- :func:`read_fluxnet_obs`: the same files to the observation streams ``nee``, ``gpp`` or
  ``le`` (flux-tower NEE, GPP, latent heat flux).
- :func:`read_plumber2_forcing`, :func:`read_plumber2_obs`, :func:`read_plumber2_site`:
  PLUMBER2 site files (netCDF, ALMA names; the benchmark set of about 170 flux towers) to
  hourly forcing, to the observation streams ``nee``, ``gpp``, ``le``, and the site's
  coordinates and vegetation class.
- :func:`read_jrc_tip`: JRC-TIP FAPAR composites (C3S/QA4ECV TIP products) to the
  observation stream ``fapar`` at a site.
- :func:`read_cci_biomass`: ESA CCI Biomass above-ground biomass maps to the observation
  stream ``agb`` around a site.
- :func:`read_troposif`: TROPOSIF L2B daily files (TROPOMI SIF at 743 nm) to the
  observation stream ``sif`` over a site.
- :func:`read_smos_ic`: SMOS-IC daily files (EASE-2 25 km) to the observation streams ``sm``
  (surface soil moisture) or ``vod`` (L-band vegetation optical depth) over a site.
"""
from .biomass import read_cci_biomass
from .fluxnet import read_fluxnet_forcing, read_fluxnet_obs
from .jrctip import read_jrc_tip
from .plumber2 import read_plumber2_forcing, read_plumber2_obs, read_plumber2_site
from .smos import read_smos_ic
from .troposif import read_troposif

__all__ = ["read_cci_biomass", "read_fluxnet_forcing", "read_fluxnet_obs", "read_jrc_tip",
           "read_plumber2_forcing", "read_plumber2_obs", "read_plumber2_site", "read_smos_ic",
           "read_troposif"]
