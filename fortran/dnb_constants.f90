! Physical constants of the D&B core (SI units unless stated).
module dnb_constants
  use dnb_kinds, only: wp
  implicit none
  public
  real(wp), parameter :: pi = 3.14159265358979323846_wp
  real(wp), parameter :: tfreeze = 273.15_wp        ! K
  real(wp), parameter :: rgas = 8.314_wp            ! J mol-1 K-1
  real(wp), parameter :: sigma_sb = 5.670374e-8_wp  ! W m-2 K-4
  real(wp), parameter :: cp_air = 1005.46_wp        ! J kg-1 K-1 (BETHY)
  real(wp), parameter :: m_air = 28.964e-3_wp       ! kg mol-1
  real(wp), parameter :: eps_h2o = 0.622_wp         ! M_w / M_air
  real(wp), parameter :: rho_w = 1000._wp           ! kg m-3
  real(wp), parameter :: mol_c = 12.011_wp          ! g mol-1
  real(wp), parameter :: o2_frac = 0.21_wp          ! mol mol-1
  real(wp), parameter :: solar_const = 1361._wp     ! W m-2 (Kopp & Lean 2011)
  real(wp), parameter :: par_frac = 0.48_wp         ! PAR share of global short-wave
  real(wp), parameter :: e_par = 2.2e5_wp           ! J per mol PAR photons (BETHY E_PAR)
  real(wp), parameter :: von_karman = 0.41_wp
  real(wp), parameter :: emis_surf = 0.97_wp        ! surface long-wave emissivity
  real(wp), parameter :: dt_hour = 3600._wp         ! s
  real(wp), parameter :: z_surf = 0.05_wp           ! m, surface layer = SMOS sensing depth
  integer, parameter :: nlayer = 3                  ! canopy layers of equal LAI (BETHY)
end module dnb_constants
