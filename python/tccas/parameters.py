"""The parameter table of D&B: defined once, here.

Every model parameter has a name, a unit, a default (per PFT where it applies), a prior
uncertainty and bounds. The Fortran index module ``fortran/dnb_params.f90`` is generated from
this table by ``tools/gen_params.py`` (a test checks the two agree), so Python names and
Fortran indices never drift apart.

PFT codes follow BETHY's 13-PFT numbering (science.md section 1):

==== ======================================================
code name
==== ======================================================
1    TrEv  tropical broadleaf evergreen tree
2    TrDD  tropical broadleaf deciduous tree
3    TmEv  temperate broadleaf evergreen tree
4    TmSg  temperate broadleaf deciduous (summergreen) tree
5    EvCn  evergreen coniferous tree
6    SgCn  deciduous (summergreen) coniferous tree
7    EShr  evergreen shrub
8    DShr  deciduous shrub
9    C3Gr  C3 grass
10   C4Gr  C4 grass
11   Tun   tundra vegetation
12   WetV  wetland / swamp vegetation
13   ArbC  arable crop
==== ======================================================

Sources of the defaults are given per entry: BETHY/CCDAS parameter lists (Knorr 2000;
Knorr et al. 2010), generic DALEC2 priors per PFT within the Bloom & Williams (2015) ranges
from the literature named beside the table (docs/science/priors.md), and, where the
references are silent, our own choice (marked "tccas choice"). Site-specific values, such as
the TCCAS ES-LM1 site priors, are in the site's case file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

NPFT_CODES = 13
Z_SURF = 0.05  # m, depth of the surface soil layer (Fortran dnb_constants z_surf)

PFT_NAMES = {
    1: "TrEv", 2: "TrDD", 3: "TmEv", 4: "TmSg", 5: "EvCn", 6: "SgCn", 7: "EShr",
    8: "DShr", 9: "C3Gr", 10: "C4Gr", 11: "Tun", 12: "WetV", 13: "ArbC",
}
C4_PFTS = frozenset({10})
GRASS_LIKE = frozenset({9, 10, 11, 12, 13})


@dataclass(frozen=True)
class Parameter:
    """One entry of the parameter table.

    ``default`` is a scalar for global parameters and a 13-tuple (PFT codes 1..13) for PFT
    parameters. ``sigma_rel`` is the prior 1-sigma as a fraction of the default
    (science.md section 0: 20 % for PFT parameters and pools, 50 % for global ones).
    ``sigma_abs``, where given, is the prior 1-sigma in the parameter's unit instead: for the
    phenology days, where a sigma proportional to the day number would make a day in autumn
    ten times less certain than one in January.
    """

    name: str
    unit: str
    description: str
    default: float | tuple[float, ...]
    lower: float
    upper: float
    sigma_rel: float
    source: str = ""
    sigma_abs: float | None = None
    per_pft: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_pft", isinstance(self.default, tuple))
        if self.per_pft and len(self.default) != NPFT_CODES:
            raise ValueError(f"parameter {self.name}: need {NPFT_CODES} PFT defaults")

    def prior_sigma(self, value: float, sigma_rel: float | None = None) -> float:
        """Prior 1-sigma of this parameter at prior value ``value`` (parameter unit).

        ``sigma_rel`` (a configuration's relative sigma) takes precedence; otherwise
        ``sigma_abs`` if the table gives one, else ``self.sigma_rel * |value|`` (or times the
        bounds' range for a zero prior)."""
        if sigma_rel is None and self.sigma_abs is not None:
            return float(self.sigma_abs)
        rel = self.sigma_rel if sigma_rel is None else float(sigma_rel)
        return rel * abs(value) if value != 0 else rel * (self.upper - self.lower)

    def default_for(self, pft: int) -> float:
        if not self.per_pft:
            return float(self.default)
        return float(self.default[pft - 1])


def _pft(*values: float) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


# Generic DALEC2 (Bloom & Williams 2015) priors per PFT, p1..p17 (docs/science/priors.md
# gives the reasoning per column). Site-specific values, such as the TCCAS ES-LM1 priors,
# belong in the site's case file, not here. Column sources:
#   p1 theta_min, p8 theta_lit: litter lost in about a year at 10-15 degC, a quarter of it
#       to SOM (CCDAS fraction to the slow pool f_s = 0.2-0.3, Knorr et al. 2010); p8 + p1 =
#       1.85e-3 d-1 at 0 degC
#   p2 f_auto: NPP/GPP = 0.47 +- 0.04 (Waring et al. 1998), 0.5 (DeLucia et al. 2007) -> 0.5
#   p3 f_fol, p13 f_lab, p4 f_root: foliage takes about 30 % of NPP in forests, fine roots
#       25-30 % (Litton et al. 2007); grasslands put about half of NPP below ground (Hui &
#       Jackson 2006) and about half of the rest into leaf blades (the "wood" pool holds
#       stems, sheaths and crowns). Deciduous canopies are built from the labile pool (high
#       f_lab, low f_fol), evergreen ones mostly from current NPP. Perennial grasses rebuild
#       their canopy every year from the reserves of crowns and rhizomes (White 1973, J.
#       Range Manage. 26, 13): f_lab 0.3 (TCCAS ES-LM1 grass 0.42), leaves 0.15 + 0.85 *
#       0.3 = 41 % of NPP directly or through the labile pool, roots 0.7 * 0.595 = 42 %
#   p5 leaf_life: leaf longevity (Reich et al. 1997; Kattge et al. 2011 TRY): tropical
#       evergreen 2 yr, temperate broadleaf evergreen 2.5 yr (Quercus ilex 2-3 yr,
#       Mediavilla & Escudero 2003), evergreen conifers 4 yr (Pinus sylvestris 3-4, Picea
#       abies 5-8), evergreen shrubs 2.5 yr, tundra 1.5 yr; deciduous plants, grasses and
#       crops lose (almost) all leaves each year (1.01)
#   p6 theta_wood: woody turnover of about 40 yr (trees), 20 yr (shrubs); for herbaceous
#       PFTs the "wood" pool is stems and crowns, 3.7 yr (TCCAS C3 grass prior)
#   p7 theta_root: fine-root turnover about 1 yr-1 (Gill & Jackson 2000), 1.5 yr-1 for
#       herbaceous PFTs
#   p9 theta_som: SOM turnover 46 yr at 0 degC, 25 yr at 15 degC (Q10 1.5), slower still
#       where the soil is dry: bulk soil carbon turns over in decades (global ecosystem
#       carbon turnover 23 yr, Carvalhais et al. 2014); it puts equilibrium SOM at 10-13
#       kgC m-2 at the towers, the 1-m soil carbon of temperate grasslands and boreal
#       forests (about 12 and 9-10 kgC m-2, Jobbagy & Jackson 2000), where 100 yr at 0 degC
#       gave 22-28 kgC m-2
#   p10 temp_exp: Q10 = 1.5 (CCDAS prior of Q10f and Q10s, Knorr et al. 2010): ln(1.5)/10
#   p11 canopy_eff: ACM only, no effect in D&B (Bloom & Williams 2015 mid-range)
#   p12 d_onset, p15 d_fall: a northern temperate spring and autumn; at a run the rule of
#       tccas.phenology replaces them from the site's climate unless the case gives them
#   p14 cr_onset, p16 cr_fall: leaf-out in about a month, leaf fall over 1-2 months
#       (evergreens spread both over longer periods)
#   p17 lma: from leaf longevity a (yr) with Reich et al. (1997) as used in LPJ (Sitch
#       et al. 2003): SLA = 2e-4 exp(6.15) / (12 a)^0.46 m2 gC-1, LMA = 1 / SLA; a = 0.5 yr
#       for deciduous leaves, grasses and crops (LMA 24 gC m-2); except evergreen conifers:
#       100 gC m-2 (projected needle area: Picea abies and Pinus sylvestris 4-6 m2 per kg
#       dry mass, Biome-BGC's needle-leaved evergreen mean 8.2 m2 kgC-1, White et al. 2000;
#       the Reich relation's 63 is for flat leaves and gave a boreal-forest LAI of 7.4)
_DALEC = {
    #       p1      p2    p3    p4    p5     p6       p7       p8       p9       p10     p11   p12    p13   p14   p15    p16   p17
    1: (4.5e-4, 0.50, 0.20, 0.35, 2.0, 6.8e-5, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 20.0, 100.0, 0.10, 60.0, 250.0, 60.0, 46.0),
    2: (4.5e-4, 0.50, 0.05, 0.35, 1.01, 6.8e-5, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 20.0, 150.0, 0.30, 30.0, 300.0, 40.0, 24.0),
    3: (4.5e-4, 0.50, 0.20, 0.35, 2.5, 6.8e-5, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 20.0, 100.0, 0.10, 60.0, 250.0, 60.0, 51.0),
    4: (4.5e-4, 0.50, 0.05, 0.35, 1.01, 6.8e-5, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 20.0, 130.0, 0.30, 30.0, 280.0, 40.0, 24.0),
    5: (4.5e-4, 0.50, 0.20, 0.35, 4.0, 6.8e-5, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 20.0, 140.0, 0.10, 60.0, 250.0, 60.0, 100.0),
    6: (4.5e-4, 0.50, 0.05, 0.35, 1.01, 6.8e-5, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 20.0, 140.0, 0.30, 30.0, 260.0, 40.0, 24.0),
    7: (4.5e-4, 0.50, 0.20, 0.40, 2.5, 1.4e-4, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 20.0, 120.0, 0.10, 60.0, 250.0, 60.0, 51.0),
    8: (4.5e-4, 0.50, 0.05, 0.40, 1.01, 1.4e-4, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 20.0, 140.0, 0.30, 30.0, 260.0, 40.0, 24.0),
    9: (4.5e-4, 0.50, 0.15, 0.70, 1.01, 7.3e-4, 4.1e-3, 1.4e-3, 6.0e-5, 0.0405, 15.0, 110.0, 0.30, 30.0, 270.0, 40.0, 24.0),
    10: (4.5e-4, 0.50, 0.15, 0.70, 1.01, 7.3e-4, 4.1e-3, 1.4e-3, 6.0e-5, 0.0405, 15.0, 130.0, 0.30, 30.0, 280.0, 40.0, 24.0),
    11: (4.5e-4, 0.50, 0.20, 0.60, 1.5, 1.4e-4, 2.7e-3, 1.4e-3, 6.0e-5, 0.0405, 15.0, 160.0, 0.20, 30.0, 250.0, 30.0, 40.0),
    12: (4.5e-4, 0.50, 0.15, 0.70, 1.01, 7.3e-4, 4.1e-3, 1.4e-3, 6.0e-5, 0.0405, 15.0, 130.0, 0.10, 30.0, 270.0, 40.0, 24.0),
    13: (4.5e-4, 0.50, 0.35, 0.60, 1.01, 7.3e-4, 4.1e-3, 1.4e-3, 6.0e-5, 0.0405, 15.0, 110.0, 0.15, 25.0, 230.0, 25.0, 24.0),
}
# Initial pools (gC m-2): labile, foliar, root, wood, litter, SOM: an order of magnitude for
# each PFT (forest wood 5-15 kgC m-2, grassland SOM 5-10 kgC m-2 in the top metre; Jobbagy &
# Jackson 2000). A case's own c_*0 should come from the model's equilibrium under the
# site's forcing (tccas spin-up), which these only start.
_POOLS0 = {
    1: (100.0, 300.0, 300.0, 15000.0, 300.0, 10000.0),
    2: (100.0, 100.0, 250.0, 8000.0, 200.0, 8000.0),
    3: (50.0, 150.0, 150.0, 8000.0, 100.0, 10000.0),
    4: (100.0, 10.0, 150.0, 8000.0, 150.0, 10000.0),
    5: (50.0, 250.0, 150.0, 6000.0, 150.0, 15000.0),
    6: (100.0, 10.0, 100.0, 5000.0, 100.0, 15000.0),
    7: (20.0, 100.0, 50.0, 800.0, 50.0, 15000.0),
    8: (30.0, 10.0, 50.0, 500.0, 50.0, 15000.0),
    9: (30.0, 10.0, 50.0, 100.0, 50.0, 8000.0),
    10: (30.0, 10.0, 50.0, 100.0, 50.0, 6000.0),
    11: (10.0, 30.0, 30.0, 100.0, 50.0, 20000.0),
    12: (30.0, 10.0, 50.0, 100.0, 100.0, 30000.0),
    13: (30.0, 10.0, 30.0, 50.0, 30.0, 6000.0),
}


def _dalec(i: int) -> tuple[float, ...]:
    return tuple(_DALEC[c][i] for c in range(1, 14))


def _pool(i: int) -> tuple[float, ...]:
    return tuple(_POOLS0[c][i] for c in range(1, 14))


_S_DALEC = ("generic PFT prior, Bloom & Williams 2015 (DALEC2) ranges; per-column sources "
            "in parameters.py and docs/science/priors.md")
_S_DAYS = ("; days are periodic (d and d + 365.25 are the same day), hence the wide bounds "
           "and an absolute prior sigma of 20 d (TCCAS's 20 % of its spring and autumn days "
           "is 15-31 d)")
_S_POOL = "order of magnitude per PFT (Jobbagy & Jackson 2000); cases use their equilibrium"

PFT_PARAMETERS: tuple[Parameter, ...] = (
    # --- photosynthesis (BETHY, Knorr 2000; CCDAS 130_paramslist) ---
    Parameter("vcmax25", "mol m-2 s-1", "maximum carboxylation rate at 25 degC, canopy top",
              _pft(60e-6, 90e-6, 41e-6, 35e-6, 29e-6, 53e-6, 52e-6, 160e-6, 78e-6, 8e-6, 20e-6,
                   20e-6, 117e-6), 1e-6, 4e-4, 0.2,
              "Knorr 2000 Vmax(25) table; C3 grass 78 umol m-2 s-1, the TRY mean of C3 "
              "herbaceous plants (Kattge et al. 2009; BETHY 42), since the canopy is held "
              "at a grassland's leaf area by lai_max (docs/science/productivity.md)"),
    Parameter("jv_scale", "1", "multiplier on the Jmax/Vcmax ratio aJV (second photosynthesis "
              "scaling of the TCCAS control vector)", _pft(*[1.0] * 13), 0.3, 3.0, 0.2,
              "tccas choice (TCCAS control elements 3-4, prior 1.0)"),
    Parameter("ajv", "1", "Jmax/Vcmax ratio at 25 degC (unused for C4)",
              _pft(1.96, 1.99, 2.00, 2.00, 1.79, 1.79, 1.96, 1.66, 1.90, 1.0, 1.85, 1.85, 1.88),
              1.0, 3.5, 0.05, "CCDAS 130_paramslist"),
    Parameter("kn", "1", "extinction coefficient of leaf nitrogen / Vcmax with cumulative LAI",
              _pft(0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0), 0.0, 1.0,
              0.2, "BETHY NSCALE (none for grasses)"),
    Parameter("leaf_scat", "1", "single-leaf scattering coefficient for PAR",
              _pft(*[0.15] * 13), 0.05, 0.3, 0.2, "Goudriaan & van Laar 1994"),
    Parameter("fc_max", "1", "maximum fractional cover of the vegetated part of the tile",
              _pft(*[1.0] * 13), 0.05, 1.0, 0.2, "BETHY FCMAX0"),
    Parameter("height", "m", "vegetation height (aerodynamic roughness)",
              _pft(30, 15, 8, 15, 15, 15, 1.0, 1.0, 0.3, 0.5, 0.1, 0.3, 0.5), 0.02, 60.0, 0.2,
              "tccas choice; ES-LM1 holm oak 8 m (MPI-BGC)"),
    Parameter("zroot", "m", "depth of the root zone below the surface layer (a property of "
              "the vegetation, not of the soil map: roots reach into weathered rock)",
              _pft(3.0, 2.5, 2.5, 2.0, 1.5, 1.5, 1.5, 1.0, 1.0, 1.2, 0.3, 0.5, 1.0), 0.1, 8.0,
              0.2, "tccas choice: about half the biome maximum rooting depths of Canadell "
              "et al. 1996, near the depth above which 95 % of roots lie (Schenk & Jackson "
              "2002)"),
    Parameter("leaf_dry_loss", "d-1", "maximum rate of drought leaf loss: foliage shed per "
              "day, times (1 - beta_d)**3 with beta_d the day's water-stress factor of "
              "canopy conductance, in addition to the DALEC2 leaf-fall pulse",
              _pft(0.002, 0.01, 0.002, 0.01, 0.002, 0.01, 0.004, 0.01, 0.02, 0.02, 0.01, 0.0,
                   0.02), 0.0, 0.2, 0.2,
              "form of Arora & Boer 2005 (CTEM drought leaf loss); rates a tccas choice: "
              "grasses and crops 0.02 d-1, deciduous trees, shrubs and tundra 0.01, "
              "evergreen shrubs 0.004, evergreen trees 0.002, wetland 0 "
              "(docs/science/phenology.md)"),
    Parameter("lai_max", "m2 m-2", "largest leaf area index the canopy carries: foliage "
              "beyond it is shed at the rate shade_loss (the shaded lowest leaves, whose "
              "carbon balance is negative, senesce)",
              _pft(7.0, 7.0, 5.0, 5.0, 5.0, 3.0, 3.5, 3.5, 2.5, 2.5, 2.5, 6.0, 5.0), 0.5, 12.0,
              0.2, "maximum LAI of the ORCHIDEE PFTs (Krinner et al. 2005; critical LAI "
              "above which no leaf allocation): tropical trees 7, temperate trees and "
              "evergreen conifers 5, deciduous conifers 3 (boreal), grasses 2.5, crops 5; "
              "shrubs 3.5 and wetland 6 from the biome LAI of Asner et al. 2003, tundra as "
              "the grasses (docs/science/phenology.md)"),
    # --- DALEC2 p1..p17 ---
    Parameter("theta_min", "d-1", "p1 litter-to-SOM decomposition rate at 0 degC", _dalec(0),
              1e-5, 1e-2, 0.2, _S_DALEC),
    Parameter("f_auto", "1", "p2 fraction of GPP respired autotrophically", _dalec(1), 0.2, 0.8,
              0.2, _S_DALEC),
    Parameter("f_fol", "1", "p3 fraction of NPP allocated to foliage", _dalec(2), 0.01, 0.5,
              0.2, _S_DALEC),
    Parameter("f_root", "1", "p4 fraction of remaining NPP allocated to fine roots", _dalec(3),
              0.01, 1.0, 0.2, _S_DALEC),
    Parameter("leaf_life", "yr", "p5 leaf lifespan (1 / annual leaf-loss fraction)", _dalec(4),
              1.001, 8.0, 0.2, _S_DALEC),
    Parameter("theta_wood", "d-1", "p6 wood turnover rate", _dalec(5), 2.5e-5, 1e-3, 0.2,
              _S_DALEC),
    Parameter("theta_root", "d-1", "p7 fine-root turnover rate", _dalec(6), 1e-4, 1e-2, 0.2,
              _S_DALEC),
    Parameter("theta_lit", "d-1", "p8 litter mineralisation rate at 0 degC", _dalec(7), 1e-4,
              1e-2, 0.2, _S_DALEC),
    Parameter("theta_som", "d-1", "p9 SOM mineralisation rate at 0 degC", _dalec(8), 1e-7,
              1e-3, 0.2, _S_DALEC),
    Parameter("temp_exp", "degC-1", "p10 exponent of the temperature rate modifier exp(p10 T)",
              _dalec(9), 0.018, 0.08, 0.2, _S_DALEC),
    Parameter("canopy_eff", "1", "p11 ACM canopy efficiency (kept for the DALEC2 layout; D&B "
              "takes GPP from BETHY, so it has no effect)", _dalec(10), 5.0, 50.0, 0.2,
              _S_DALEC),
    Parameter("d_onset", "d", "p12 day parameter of the labile-release pulse (the pulse "
              "peaks tccas.phenology.pulse_peak_lag days later: 0.625 cr_onset, 19-46 d for cr_onset "
              "30-74)", _dalec(11), -365.0, 730.0, 0.2, _S_DALEC + _S_DAYS, sigma_abs=20.0),
    Parameter("f_lab", "1", "p13 fraction of remaining NPP allocated to labile", _dalec(12),
              0.01, 0.5, 0.2, _S_DALEC),
    Parameter("cr_onset", "d", "p14 labile-release period", _dalec(13), 10.0, 100.0, 0.2,
              _S_DALEC),
    Parameter("d_fall", "d", "p15 day parameter of the leaf-fall pulse (the pulse peaks "
              "tccas.phenology.pulse_peak_lag days later, depending on cr_fall and leaf_life)",
              _dalec(14), -365.0, 730.0, 0.2, _S_DALEC + _S_DAYS, sigma_abs=20.0),
    Parameter("cr_fall", "d", "p16 leaf-fall period", _dalec(15), 10.0, 150.0, 0.2, _S_DALEC),
    Parameter("lma", "g m-2", "p17 leaf mass per area in carbon (LAI = C_fol / LMA)",
              _dalec(16), 5.0, 200.0, 0.2, _S_DALEC),
    # --- initial carbon pools ---
    Parameter("c_lab0", "g m-2", "initial labile carbon", _pool(0), 1.0, 2000.0, 0.2, _S_POOL),
    Parameter("c_fol0", "g m-2", "initial foliar carbon", _pool(1), 1.0, 2000.0, 0.2, _S_POOL),
    Parameter("c_root0", "g m-2", "initial fine-root carbon", _pool(2), 1.0, 2000.0, 0.2,
              _S_POOL),
    Parameter("c_wood0", "g m-2", "initial wood carbon", _pool(3), 10.0, 1e5, 0.2, _S_POOL),
    Parameter("c_lit0", "g m-2", "initial litter carbon", _pool(4), 1.0, 2000.0, 0.2, _S_POOL),
    Parameter("c_som0", "g m-2", "initial soil organic carbon", _pool(5), 100.0, 2e5, 0.2,
              _S_POOL),
)

GLOBAL_PARAMETERS: tuple[Parameter, ...] = (
    # --- photosynthesis constants (BETHY / CCDAS 130_paramslist; sigma 5 %) ---
    Parameter("alpha_c3", "mol mol-1", "C3 quantum efficiency of electron transport", 0.28, 0.1,
              0.5, 0.05, "CCDAS 130_paramslist"),
    Parameter("alpha_c4", "mol mol-1", "C4 quantum efficiency", 0.04, 0.01, 0.1, 0.05,
              "CCDAS 130_paramslist"),
    Parameter("kc25", "mol mol-1", "Michaelis-Menten constant of Rubisco for CO2 at 25 degC",
              460e-6, 100e-6, 1000e-6, 0.05, "CCDAS 130_paramslist"),
    Parameter("ko25", "mol mol-1", "Michaelis-Menten constant of Rubisco for O2 at 25 degC",
              0.33, 0.1, 1.0, 0.05, "CCDAS 130_paramslist"),
    Parameter("e_kc", "J mol-1", "activation energy of Kc", 59356.0, 30000.0, 90000.0, 0.05,
              "CCDAS 130_paramslist"),
    Parameter("e_ko", "J mol-1", "activation energy of Ko", 35948.0, 15000.0, 60000.0, 0.05,
              "CCDAS 130_paramslist"),
    Parameter("e_vcmax", "J mol-1", "activation energy of Vcmax", 58520.0, 30000.0, 90000.0,
              0.05, "CCDAS 130_paramslist"),
    Parameter("e_rd", "J mol-1", "activation energy of dark respiration", 45000.0, 20000.0,
              80000.0, 0.05, "CCDAS 130_paramslist"),
    Parameter("e_k4", "J mol-1", "activation energy of the C4 PEPcase constant", 50967.0,
              20000.0, 80000.0, 0.05, "CCDAS 130_paramslist"),
    Parameter("a_gamma", "mol mol-1 degC-1", "slope of the CO2 compensation point with "
              "temperature", 1.7e-6, 1e-6, 3e-6, 0.05, "CCDAS 130_paramslist"),
    Parameter("k4_ratio", "1", "C4 initial CO2 slope k25 / Vcmax25", 18000.0, 5000.0, 40000.0,
              0.2, "Collatz et al. 1992"),
    Parameter("f_rd_c3", "1", "C3 dark respiration / Vcmax at 25 degC", 0.011, 0.005, 0.03,
              0.2, "Farquhar et al. 1980; BETHY"),
    Parameter("f_rd_c4", "1", "C4 dark respiration / Vcmax at 25 degC", 0.042, 0.01, 0.08, 0.2,
              "Collatz et al. 1992; BETHY"),
    Parameter("fci_c3", "1", "unstressed Ci/Ca of C3 plants", 0.87, 0.5, 0.95, 0.05,
              "Beerling & Quick 1995"),
    Parameter("fci_c4", "1", "unstressed Ci/Ca of C4 plants", 0.67, 0.3, 0.9, 0.05,
              "Schulze et al. 1994"),
    # --- water and energy ---
    Parameter("c_w", "mm h-1", "maximum root water supply rate at full plant-available water",
              0.5, 0.05, 2.0, 0.5, "BETHY CW0 (Knorr 2000 eq. 81)"),
    Parameter("ksat_scale", "1", "multiplier on the Cosby et al. (1984) saturated conductivity",
              1.0, 0.01, 100.0, 0.5, "tccas choice"),
    Parameter("g_frac", "1", "ground heat flux as fraction of soil net radiation", 0.3, 0.05,
              0.6, 0.5, "tccas choice (hourly; BETHY uses 0.036 of daily net radiation)"),
    Parameter("ddf", "mm d-1 degC-1", "degree-day snow-melt factor", 3.22, 1.0, 8.0, 0.5,
              "BETHY snow (Knorr 1997)"),
    Parameter("sw_init", "1", "initial relative plant-available water of both soil layers",
              0.8, 0.05, 1.0, 0.5, "tccas choice"),
    # --- heterotrophic respiration moisture response ---
    Parameter("rh_wmin", "1", "Rh moisture modifier at wilting point (1 at field capacity)",
              0.25, 0.01, 1.0, 0.5, "tccas choice (linear moisture response)"),
    # --- observation operators (science.md sections 0 and 6) ---
    Parameter("sif_scale", "1", "multiplier on simulated SIF (TCCAS control element 56 has "
              "prior 1 and a very wide sigma)", 1.0, 0.05, 20.0, 1.0, "TCCAS r10043 logs"),
    Parameter("sif_spec", "nm-1", "share of fluorescence photons emitted per nm at 743 nm",
              0.0085, 0.003, 0.02, 0.5, "tccas choice from SCOPE leaf fluorescence spectra"),
    Parameter("sif_kesc", "1", "extinction of emitted far-red fluorescence with cumulative "
              "LAI on its way out of the canopy", 0.3, 0.05, 1.0, 0.5,
              "tccas choice: 0.78 sqrt(1 - 0.85), NIR leaf scattering 0.85"),
    Parameter("leaf_water", "kg g-1", "leaf water per gram of foliar carbon at full hydration",
              3.0e-3, 1e-3, 8e-3, 0.5, "tccas choice: 1.5 g water per g dry leaf"),
    Parameter("wood_water", "kg g-1", "water per gram of wood carbon that L-band senses at "
              "full hydration", 1.0e-3, 1e-4, 4e-3, 0.5, "tccas choice"),
    Parameter("vod_b", "m2 kg-1", "L-band optical depth per kg m-2 of vegetation water",
              0.1, 0.02, 0.4, 0.5, "Jackson & Schmugge 1991 (b ~ 0.1-0.15 at L-band)"),
    Parameter("hyd_min", "1", "relative vegetation hydration at wilting point", 0.4, 0.05, 0.95,
              0.5, "tccas choice"),
    Parameter("hyd_tau", "d", "relaxation time of vegetation hydration towards the root-zone "
              "water status", 2.0, 0.2, 20.0, 0.5, "tccas choice"),
    Parameter("f_above", "1", "above-ground fraction of the DALEC wood pool (for AGB)", 0.75,
              0.4, 1.0, 0.5, "tccas choice; DALEC wood includes coarse roots"),
    Parameter("tb_omega", "1", "L-band single-scattering albedo of vegetation", 0.06, 0.0, 0.2,
              0.5, "SMOS L-MEB (Wigneron et al. 2007)"),
    Parameter("tb_hr", "1", "soil roughness parameter H_R of the L-band emission", 0.3, 0.0,
              1.5, 0.5, "Wang & Choudhury 1981; SMOS L-MEB"),
    # --- ASCAT C-band backscatter, water-cloud model (docs/science/ascat.md) ---
    Parameter("wcm_a", "1", "C-band (VV) backscatter of an opaque canopy per cos(theta): "
              "volume-scattering coefficient A of the water-cloud model", 0.2, 0.01, 1.0, 0.5,
              "Attema & Ulaby 1978 form; tccas choice: an opaque canopy gives A cos(40 deg) = "
              "-8 dB at 40 deg, the level of ASCAT sigma40 over closed forests (-7 to -9 dB)"),
    Parameter("wcm_b", "m2 kg-1", "C-band one-way optical depth per kg m-2 of vegetation "
              "water: attenuation coefficient B of the water-cloud model", 0.3, 0.02, 2.0, 0.5,
              "tccas choice: the L-band b of 0.1-0.15 (vod_b) grows about in proportion to "
              "frequency (Jackson & Schmugge 1991), 0.3-0.5 at C-band; C-band water-cloud fits "
              "over crops and grass (Bindlish & Barros 2001; Lievens et al. 2017) lie in this range"),
    Parameter("wcm_c", "dB", "C-band backscatter of bare, completely dry soil at 40 deg "
              "incidence (soil term of the water-cloud model at sm = 0)", -17.0, -30.0, -5.0,
              0.5, "tccas choice: ASCAT dry references (Wagner et al. 1999; Naeimi et al. "
              "2009) of sparsely vegetated land lie near -18 to -14 dB", sigma_abs=3.0),
    Parameter("wcm_d", "dB m3 m-3", "sensitivity of the bare-soil C-band backscatter (dB) to "
              "surface soil moisture (m3 m-3)", 15.0, 1.0, 50.0, 0.5,
              "Ulaby et al. 1978 (C-band, 0.1-0.2 dB per % volumetric moisture); ASCAT "
              "wet-minus-dry ranges of 4-8 dB over 0.05-0.45 m3 m-3 (Naeimi et al. 2009)"),
    Parameter("wcm_n", "1", "exponent n of the angular fall-off (cos theta)^n of the bare-soil "
              "backscatter (soil roughness: n = 2 a Lambertian, rough surface; larger n for "
              "smoother soil)", 2.0, 0.5, 6.0, 0.5,
              "Lambert's law (Ulaby, Moore & Fung 1982); n = 2 gives a bare-soil slope of "
              "-0.127 dB deg-1 at 40 deg, within ASCAT's -0.15 to -0.10 dB deg-1 over sparse "
              "vegetation (Hahn et al. 2017; Vreugdenhil et al. 2016)"),
    # --- canopy capacity (docs/science/phenology.md) ---
    Parameter("shade_loss", "d-1", "rate at which foliage beyond the PFT's lai_max is shed "
              "(leaf-loss factor shade_loss * softplus(LAI - lai_max) / (LAI + w), "
              "w = 0.1)", 0.2, 0.01, 1.0, 0.5,
              "tccas choice: foliage above the canopy's capacity is shed in about 5 days, "
              "fast against the life of a grass leaf (1-3 months, Lemaire & Chapman 1996), "
              "so that the labile-release pulse cannot carry the canopy far above lai_max "
              "(docs/science/phenology.md gives the sensitivity to 0.1-0.3)"),
)

PARAMETERS: dict[str, Parameter] = {p.name: p for p in PFT_PARAMETERS + GLOBAL_PARAMETERS}
PFT_NAMES_LIST = tuple(p.name for p in PFT_PARAMETERS)
GLOBAL_NAMES_LIST = tuple(p.name for p in GLOBAL_PARAMETERS)

# Output variables of the Fortran core (also a single source of truth: the Fortran index
# module is generated from these lists). (name, unit, long name)
HOURLY_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("gpp", "g m-2 h-1", "gross primary production (carbon)"),
    ("ra", "g m-2 h-1", "autotrophic respiration (carbon)"),
    ("rh", "g m-2 h-1", "heterotrophic respiration (carbon)"),
    ("nee", "g m-2 h-1", "net ecosystem exchange (carbon, positive to the atmosphere)"),
    ("apar", "W m-2", "absorbed photosynthetically active radiation"),
    ("fapar", "1", "fraction of absorbed PAR under the actual illumination"),
    ("fsun", "1", "sunlit fraction of the leaf area"),
    ("et", "kg m-2 h-1", "evapotranspiration"),
    ("trans", "kg m-2 h-1", "transpiration"),
    ("evap_soil", "kg m-2 h-1", "bare-soil evaporation"),
    ("evap_int", "kg m-2 h-1", "evaporation of intercepted water"),
    ("sublim", "kg m-2 h-1", "snow sublimation"),
    ("le", "W m-2", "latent heat flux"),
    ("hfss", "W m-2", "sensible heat flux"),
    ("rnet", "W m-2", "net radiation"),
    ("gflux", "W m-2", "ground heat flux"),
    ("rlus", "W m-2", "upwelling long-wave radiation"),
    ("tcan", "K", "canopy temperature"),
    ("tsoil1", "K", "surface soil temperature"),
    ("tsoil2", "K", "root-zone soil temperature"),
    ("sm_surf", "m3 m-3", "volumetric water content of the surface layer"),
    ("sm_root", "m3 m-3", "volumetric water content of the root-zone layer"),
    ("snow", "kg m-2", "snow water equivalent"),
    ("runoff", "kg m-2 h-1", "surface runoff"),
    ("drainage", "kg m-2 h-1", "drainage below the root zone"),
    ("water_store", "kg m-2", "total water storage: soil layers, canopy and snow"),
    ("gc", "m s-1", "canopy conductance for water vapour"),
    ("beta_w", "1", "water-stress factor on canopy conductance"),
    ("precip", "kg m-2 h-1", "precipitation"),
    ("lai", "m2 m-2", "leaf area index"),
    ("fapar_ws", "1", "white-sky (diffuse illumination) FAPAR"),
    ("sif", "mW m-2 sr-1 nm-1", "sun-induced fluorescence at 743 nm leaving the canopy"),
    ("vwc", "kg m-2", "vegetation water content sensed at L-band (leaves and wood)"),
    ("vod", "1", "L-band vegetation optical depth"),
    ("agb", "Mg ha-1", "above-ground biomass (dry matter)"),
)
DAILY_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("c_lab", "g m-2", "labile carbon at the end of the day"),
    ("c_fol", "g m-2", "foliar carbon at the end of the day"),
    ("c_root", "g m-2", "fine-root carbon at the end of the day"),
    ("c_wood", "g m-2", "wood carbon at the end of the day"),
    ("c_lit", "g m-2", "litter carbon at the end of the day"),
    ("c_som", "g m-2", "soil organic carbon at the end of the day"),
    ("f_gpp", "g m-2 d-1", "DALEC F0: gross primary production"),
    ("f_temprate", "1", "DALEC F1: temperature rate modifier (daily mean of exp(p10 T))"),
    ("f_ra", "g m-2 d-1", "DALEC F2: autotrophic respiration"),
    ("f_leaf_prod", "g m-2 d-1", "DALEC F3: leaf production"),
    ("f_lab_prod", "g m-2 d-1", "DALEC F4: labile production"),
    ("f_root_prod", "g m-2 d-1", "DALEC F5: root production"),
    ("f_wood_prod", "g m-2 d-1", "DALEC F6: wood production"),
    ("f_lab_release", "g m-2 d-1", "DALEC F7: labile release to foliage"),
    ("f_leaffall_factor", "d-1", "DALEC F8: leaf-fall factor (pulse plus drought leaf loss)"),
    ("f_leaf_litter", "g m-2 d-1", "DALEC F9: leaf litter production"),
    ("f_wood_litter", "g m-2 d-1", "DALEC F10: wood litter production"),
    ("f_root_litter", "g m-2 d-1", "DALEC F11: root litter production"),
    ("f_rh_lit", "g m-2 d-1", "DALEC F12: heterotrophic respiration of litter"),
    ("f_rh_som", "g m-2 d-1", "DALEC F13: heterotrophic respiration of SOM"),
    ("f_lit2som", "g m-2 d-1", "DALEC F14: litter decomposition to SOM"),
    ("f_labrelease_factor", "d-1", "DALEC F15: labile-release factor"),
    ("lai_day", "m2 m-2", "leaf area index at the end of the day"),
    ("fapar_ws", "1", "white-sky (diffuse) FAPAR at the end of the day"),
    ("moist_rate", "1", "heterotrophic-respiration moisture modifier (daily mean)"),
)

# Hourly forcing variables the Fortran core takes, in this order: met(step, im_*).
# (name, canonical unit, CF standard name)
FORCING_VARS: tuple[tuple[str, str, str], ...] = (
    ("tas", "K", "air_temperature"),
    ("rsds", "W m-2", "surface_downwelling_shortwave_flux_in_air"),
    ("rlds", "W m-2", "surface_downwelling_longwave_flux_in_air"),
    ("pr", "kg m-2 s-1", "precipitation_flux"),
    ("vpd", "Pa", "water_vapor_saturation_deficit_in_air"),
    ("ps", "Pa", "surface_air_pressure"),
    ("sfcWind", "m s-1", "wind_speed"),
    ("co2", "mol mol-1", "mole_fraction_of_carbon_dioxide_in_air"),
    ("tsl_deep", "K", "soil_temperature"),
)

# Observation streams the operators of dnb_obs simulate: (name, unit, description).
# The Fortran stream codes are the positions in this list (generated module dnb_params).
OBS_STREAMS: tuple[tuple[str, str, str], ...] = (
    ("sif", "mW m-2 sr-1 nm-1", "sun-induced fluorescence at 743 nm (TROPOMI, TROPOSIF)"),
    ("vod", "1", "L-band vegetation optical depth (SMOS L-VOD, SMOS-IC)"),
    ("sm", "m3 m-3", "surface soil moisture, top 5 cm (SMOS L2/L3, SMOS-IC)"),
    ("tb_h", "K", "L-band brightness temperature, horizontal polarisation (SMOS L1C)"),
    ("tb_v", "K", "L-band brightness temperature, vertical polarisation (SMOS L1C)"),
    ("fapar", "1", "white-sky FAPAR (JRC-TIP)"),
    ("nee", "g m-2 d-1", "net ecosystem exchange of carbon, rate (FLUXNET2015/ICOS)"),
    ("gpp", "g m-2 d-1", "gross primary production of carbon, rate (FLUXNET2015/ICOS)"),
    ("le", "W m-2", "latent heat flux (FLUXNET2015/ICOS)"),
    ("agb", "Mg ha-1", "above-ground biomass, dry matter (ESA CCI Biomass)"),
    ("sigma40", "dB", "C-band backscatter normalised to 40 deg incidence (ASCAT, H SAF / "
     "EUMETSAT)"),
    ("slope", "dB deg-1", "slope of the C-band backscatter in incidence angle at 40 deg "
     "(ASCAT, H SAF / EUMETSAT)"),
)

# Layout of the per-tile model state carried between chunks of a run.
STATE_NAMES: tuple[str, ...] = (
    "c_lab", "c_fol", "c_root", "c_wood", "c_lit", "c_som",
    "w_surf", "w_root", "w_canopy", "snow", "snow_rho", "snow_alb", "tsoil1", "tsoil2",
    "hydration",
)


def pft_defaults(pfts: "list[int] | np.ndarray") -> np.ndarray:
    """Default PFT-parameter array, shape (npft_par, n_tiles), for the given PFT codes."""
    pfts = [int(c) for c in pfts]
    for c in pfts:
        if c not in PFT_NAMES:
            raise ValueError(f"unknown PFT code {c}; BETHY codes are 1..13")
    return np.array([[p.default_for(c) for c in pfts] for p in PFT_PARAMETERS], dtype=float)


def global_defaults() -> np.ndarray:
    """Default global-parameter array, shape (nglob_par,)."""
    return np.array([p.default_for(1) for p in GLOBAL_PARAMETERS], dtype=float)


def pft_index(name: str) -> int:
    return PFT_NAMES_LIST.index(name)


def global_index(name: str) -> int:
    return GLOBAL_NAMES_LIST.index(name)


def apply_overrides(ppft: np.ndarray, pglob: np.ndarray, pfts: "list[int]",
                    overrides: Mapping[str, object], where: str = "config") -> None:
    """Set parameter values in place from a mapping name -> value.

    For a PFT parameter the value is a scalar (all tiles) or a mapping from PFT code or
    PFT short name to value. Unknown names raise ``KeyError`` with the offending name.
    """
    by_name = {PFT_NAMES[c]: c for c in PFT_NAMES}
    for name, value in overrides.items():
        if name not in PARAMETERS:
            raise KeyError(f"{where}: unknown parameter name '{name}'")
        par = PARAMETERS[name]
        if par.per_pft:
            row = pft_index(name)
            if isinstance(value, Mapping):
                for key, v in value.items():
                    code = by_name.get(str(key), None)
                    if code is None:
                        try:
                            code = int(key)
                        except ValueError:
                            raise KeyError(f"{where}: parameter '{name}': unknown PFT '{key}'") from None
                    if code not in pfts:
                        raise KeyError(f"{where}: parameter '{name}': PFT {key} is not in this case "
                                       f"(PFTs {pfts})")
                    ppft[row, pfts.index(code)] = float(v)
            else:
                ppft[row, :] = float(value)
        else:
            if isinstance(value, Mapping):
                raise KeyError(f"{where}: parameter '{name}' is global, give one number")
            pglob[global_index(name)] = float(value)
