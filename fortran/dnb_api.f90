! The flat interface of the D&B core: the only module f2py wraps. Scalars and explicit-shape
! arrays, an integer status instead of stops, no derived types or module variables.
!
! status codes (turned into exceptions by tccas.model):
!   0 ok; 1 nt is not a positive multiple of 24 or nd /= nt/24; 2 a PFT code outside 1..13;
!   3 a non-finite forcing value; 4 a non-finite parameter or state value;
!   5 the model produced a non-finite output
module dnb_api
  use dnb_kinds, only: wp
  use dnb_params, only: npp, ngp, nho, ndo, nstate, nmet
  use dnb_model, only: simulate, init_state
  use dnb_hydrology, only: soil_hydraulics, nsh
  implicit none
  private
  public :: sizes, run_cell, initial_state

contains

  ! Array sizes compiled into the core, so that Python can check them against its table.
  subroutine sizes(n_pft_par, n_glob_par, n_hourly, n_daily, n_state, n_met)
    integer, intent(out) :: n_pft_par, n_glob_par, n_hourly, n_daily, n_state, n_met
    n_pft_par = npp
    n_glob_par = ngp
    n_hourly = nho
    n_daily = ndo
    n_state = nstate
    n_met = nmet
  end subroutine sizes

  ! Forward run of one cell (see dnb_model.simulate for the arguments).
  subroutine run_cell(nt, nd, ntile, nspin, init, doy, hour, tday, met, lat, lon, sand, clay, &
                      pft, ppft, pglob, state, hout, dout, status)
    integer, intent(in) :: nt, nd, ntile, nspin, init
    integer, intent(in) :: doy(nt), pft(ntile)
    real(wp), intent(in) :: hour(nt), tday(nt), met(nt, nmet), lat, lon, sand, clay
    real(wp), intent(in) :: ppft(npp, ntile), pglob(ngp)
    real(wp), intent(inout) :: state(nstate, ntile)
    real(wp), intent(out) :: hout(nt, nho, ntile), dout(nd, ndo, ntile)
    integer, intent(out) :: status
    status = 0
    hout = 0._wp
    dout = 0._wp
    if (nt <= 0 .or. mod(nt, 24) /= 0 .or. nd /= nt / 24) then
      status = 1
      return
    end if
    if (any(pft < 1) .or. any(pft > 13)) then
      status = 2
      return
    end if
    if (.not. all_finite(met, nt * nmet)) then
      status = 3
      return
    end if
    if (.not. all_finite(ppft, npp * ntile) .or. .not. all_finite(pglob, ngp)) then
      status = 4
      return
    end if
    if (init == 0 .and. .not. all_finite(state, nstate * ntile)) then
      status = 4
      return
    end if
    call simulate(nt, nd, ntile, nspin, init, doy, hour, tday, met, lat, lon, sand, clay, &
                  pft, ppft, pglob, state, hout, dout)
    if (.not. all_finite(hout, nt * nho * ntile) .or. .not. all_finite(dout, nd * ndo * ntile) &
        .or. .not. all_finite(state, nstate * ntile)) status = 5
  end subroutine run_cell

  ! Initial state of each tile before any spin-up (carbon pools from the parameters, soil
  ! water at sw_init, soil at t_deep in K).
  subroutine initial_state(ntile, pft, ppft, pglob, sand, clay, t_deep, state, status)
    integer, intent(in) :: ntile, pft(ntile)
    real(wp), intent(in) :: ppft(npp, ntile), pglob(ngp), sand, clay, t_deep
    real(wp), intent(out) :: state(nstate, ntile)
    integer, intent(out) :: status
    real(wp) :: sh(nsh)
    integer :: i
    status = 0
    state = 0._wp
    if (any(pft < 1) .or. any(pft > 13)) then
      status = 2
      return
    end if
    if (.not. all_finite(ppft, npp * ntile) .or. .not. all_finite(pglob, ngp)) then
      status = 4
      return
    end if
    call soil_hydraulics(sand, clay, sh)
    do i = 1, ntile
      call init_state(ppft(:, i), pglob, sh, t_deep, state(:, i))
    end do
  end subroutine initial_state

  logical function all_finite(x, n)
    integer, intent(in) :: n
    real(wp), intent(in) :: x(n)
    integer :: i
    all_finite = .true.
    do i = 1, n
      if (x(i) /= x(i) .or. abs(x(i)) > huge(x(i))) then
        all_finite = .false.
        return
      end if
    end do
  end function all_finite

end module dnb_api
