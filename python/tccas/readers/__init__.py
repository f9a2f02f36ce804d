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
- :func:`read_smos_l2`: ESA SMOS Level 2 soil-moisture half-orbits (MIR_SMUDP2 v700) to ``sm``
  or ``vod`` over a site, screened; :func:`read_smos_l2_granule` and
  :func:`screen_smos_l2` give the decoded file and the screening of every grid point.
- :func:`read_cci_sm`: ESA CCI SM / C3S SM daily images to ``sm`` over a site
  (:func:`read_cci_sm_pixel`: one file's cell).
- :func:`read_ascat_l2`: EUMETSAT ASCAT L2 soil-moisture swath files (25 km) to an
  :class:`AscatL2Swath` of records (sigma40, slope40, soil moisture index, flags);
  :func:`read_hsaf_ascat`: H SAF / TU Wien ASCAT products (H121, H129, H122 swath and cell
  files) to :class:`AscatRecords` (sigma40, slope40, curvature40, flags);
  :func:`read_ascat_obs`: either of them to the streams ``sigma40`` or ``slope`` over a site.

Shared by them and by :mod:`tccas.obsdb`: :func:`site_footprint` (a case's site and PFT
fractions), :func:`great_circle_km`, :func:`footprint_touches` and :class:`Tally` (records
read, kept and dropped by reason).

Which layouts were confirmed on real files: FLUXNET2015 (a real SUBSET DD file), SMOS L2 SM
v700, ESA CCI SM v05.2 COMBINED and ASCAT L2 SSM 25 km (cut-outs of real files in
tests/data). TROPOSIF L2B, SMOS-IC, JRC-TIP and CCI Biomass were tested on files written to
their documented layouts only; each module's docstring says what is and is not confirmed.
"""
from ._common import SiteFootprint, Tally, footprint_touches, great_circle_km, site_footprint
from .ascat import AscatL2Swath, AscatRecords, read_ascat_l2, read_ascat_obs, read_hsaf_ascat
from .biomass import read_cci_biomass
from .cci_sm import read_cci_sm, read_cci_sm_pixel
from .fluxnet import FLUX_SIGMA_FLOOR, fluxnet_streams, is_sub_daily, read_fluxnet_forcing, \
    read_fluxnet_obs
from .jrctip import read_jrc_tip
from .plumber2 import read_plumber2_forcing, read_plumber2_obs, read_plumber2_site
from .smos import read_smos_ic
from .smos_l2 import read_smos_l2, read_smos_l2_granule, screen_smos_l2
from .troposif import read_troposif

__all__ = ["AscatL2Swath", "AscatRecords", "FLUX_SIGMA_FLOOR", "fluxnet_streams",
           "footprint_touches", "is_sub_daily",
           "great_circle_km", "read_ascat_l2", "read_ascat_obs", "read_hsaf_ascat", "read_cci_biomass", "read_cci_sm", "read_cci_sm_pixel",
           "read_fluxnet_forcing", "read_fluxnet_obs", "read_jrc_tip",
           "read_plumber2_forcing", "read_plumber2_obs", "read_plumber2_site", "read_smos_ic",
           "read_smos_l2", "read_smos_l2_granule", "read_troposif", "screen_smos_l2",
           "site_footprint", "SiteFootprint", "Tally"]
