package exchange

import (
	"fmt"
	"time"
)

// Version is an Exchange server's build, read from AdminDisplayVersion ("Version 15.2 (Build 2562.17)").
type Version struct {
	Major, Minor, Build, Revision int
}

// ParseVersion reads AdminDisplayVersion's text (ServerVersion's ToString).
func ParseVersion(text string) (Version, error) {
	var v Version
	if n, err := fmt.Sscanf(text, "Version %d.%d (Build %d.%d)", &v.Major, &v.Minor, &v.Build, &v.Revision); n != 4 || err != nil {
		return Version{}, fmt.Errorf("AdminDisplayVersion %q: want \"Version M.m (Build b.r)\"", text)
	}
	return v, nil
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d.%d", v.Major, v.Minor, v.Build, v.Revision)
}

// seFirstBuild is Exchange Server Subscription Edition's first build (RTM, 15.2.2562); SE is code-equivalent to
// 2019 CU15 and shares its 15.2 (exchange-maintenance.md §6).
const seFirstBuild = 2562

// Product names the release: Exchange Server SE, 2019, 2016, 2013 or older.
func (v Version) Product() string {
	switch {
	case v.Major == 15 && v.Minor == 2 && v.Build >= seFirstBuild, v.Major > 15, v.Major == 15 && v.Minor > 2:
		return "Exchange Server SE"
	case v.Major == 15 && v.Minor == 2:
		return "Exchange Server 2019"
	case v.Major == 15 && v.Minor == 1:
		return "Exchange Server 2016"
	case v.Major == 15 && v.Minor == 0:
		return "Exchange Server 2013"
	}
	return fmt.Sprintf("Exchange %d.%d", v.Major, v.Minor)
}

// endOfSupport is when 2016 and 2019 left support (2025-10-14); 2013 left on 2023-04-11.
func endOfSupport(product string) (time.Time, bool) {
	switch product {
	case "Exchange Server 2016", "Exchange Server 2019":
		return time.Date(2025, 10, 14, 0, 0, 0, 0, time.UTC), true
	case "Exchange Server 2013":
		return time.Date(2023, 4, 11, 0, 0, 0, 0, time.UTC), true
	case "Exchange Server SE":
		return time.Time{}, false // the modern lifecycle: supported while kept current
	}
	return time.Time{}, true // older than 2013
}

// SupportWarning is a sentence for `plan` when v is out of support at now, or "".
func (v Version) SupportWarning(now time.Time) string {
	p := v.Product()
	end, ends := endOfSupport(p)
	if !ends || now.Before(end) {
		return ""
	}
	if end.IsZero() {
		return fmt.Sprintf("%s (%s) is out of support", p, v)
	}
	return fmt.Sprintf("%s (%s) has been out of support since %s: Microsoft publishes no security updates for it; plan the move to Exchange Server SE",
		p, v, end.Format("2006-01-02"))
}
