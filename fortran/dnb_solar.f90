! Solar geometry of a run's hours for the interface (dnb_api), with the part that does not
! depend on the place kept between calls: the cells of a regional run, and the repeated
! evaluations of one cell, share their hours, so only the first call with a given time axis
! evaluates the trigonometric series of dnb_radiation.solar_samples; later calls combine the
! kept samples with their latitude and longitude (dnb_radiation.solar_from_samples).
! Not differentiated (the geometry is an input of the model, not a function of its
! parameters), so Tapenade does not see this module. Not reentrant (nor is the rest of the
! core, whose large local arrays are static): one call at a time per process.
module dnb_solar
  use dnb_kinds, only: wp
  use dnb_radiation, only: solar_samples, solar_from_samples, nsolar
  implicit none
  private
  public :: solar_geometry

  ! samples of the kept time axis, (nsolar, 6, nt), and that axis
  real(wp), allocatable, save :: kept(:, :, :), kept_hour(:)
  integer, allocatable, save :: kept_doy(:)

contains

  ! cosz(it), toa(it): hour-mean cos(zenith) and top-of-atmosphere irradiance on a
  ! horizontal plane (W m-2) of the hours that start at hour(it) (UTC, h) of day doy(it), at
  ! lat, lon (degrees): what dnb_radiation.solar_hour gives hour by hour. ierr = 7 (the
  ! interface's out-of-memory status) if the samples cannot be allocated (about 240 bytes
  ! per hour).
  subroutine solar_geometry(nt, doy, hour, lat, lon, cosz, toa, ierr)
    integer, intent(in) :: nt, doy(nt)
    real(wp), intent(in) :: hour(nt), lat, lon
    real(wp), intent(out) :: cosz(nt), toa(nt)
    integer, intent(out) :: ierr
    integer :: it, stat
    logical :: same
    ierr = 0
    same = allocated(kept)
    if (same) same = size(kept_doy) == nt
    if (same) same = all(kept_doy == doy) .and. all(kept_hour == hour)
    if (.not. same) then
      if (allocated(kept)) deallocate(kept, kept_doy, kept_hour)
      allocate(kept(nsolar, 6, nt), kept_doy(nt), kept_hour(nt), stat=stat)
      if (stat /= 0) then
        ierr = 7         ! the interface's out-of-memory status (dnb_api)
        if (allocated(kept)) deallocate(kept)
        if (allocated(kept_doy)) deallocate(kept_doy)
        if (allocated(kept_hour)) deallocate(kept_hour)
        cosz = 0._wp
        toa = 0._wp
        return
      end if
      do it = 1, nt
        call solar_samples(doy(it), hour(it), kept(:, :, it))
      end do
      kept_doy = doy
      kept_hour = hour
    end if
    do it = 1, nt
      call solar_from_samples(kept(:, :, it), lat, lon, cosz(it), toa(it))
    end do
  end subroutine solar_geometry

end module dnb_solar
