"""The static Rt web page asset (rt/site)."""
