package main

// The KPI's days and shifts are in the site's zone (default Asia/Shanghai) whatever the PC's own
// zone: embed the zone database so a Windows PC without one still knows it.
import _ "time/tzdata"
