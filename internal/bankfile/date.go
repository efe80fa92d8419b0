package bankfile

import (
	"fmt"
	"time"
)

// Date is a calendar day without a time or a zone, as bank files carry them.
// The zero Date means "not given".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the calendar day of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsZero reports whether d is the zero Date ("not given").
func (d Date) IsZero() bool { return d == Date{} }

// String formats d as 2006-01-02, or "" for the zero Date.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// Before reports whether d is an earlier day than e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// valid reports whether d is a real calendar day in years 1..9999.
func (d Date) valid() bool {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 {
		return false
	}
	return d.Day <= daysIn(d.Year, d.Month)
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// MonthDay is a month and a day without a year: the transfer date (振込指定日,
// MMDD) of a Zengin transfer file. The zero MonthDay is invalid.
type MonthDay struct {
	Month time.Month
	Day   int
}

// String formats md as MM-DD.
func (md MonthDay) String() string { return fmt.Sprintf("%02d-%02d", int(md.Month), md.Day) }

// valid reports whether md is a day that exists in some year (02-29 counts).
func (md MonthDay) valid() bool {
	return md.Month >= 1 && md.Month <= 12 && md.Day >= 1 && md.Day <= daysIn(2000, md.Month) // 2000 is a leap year
}

// Era says how a Zengin statement writes the year of a YYMMDD date.
type Era int

const (
	// EraReiwa is 和暦 in the Reiwa era (令和), what the Zengin standard
	// layout defines: YY is the Reiwa year, R01 = 2019, and the era began on
	// 2019-05-01, so earlier days cannot be written. Heisei-era (平成) dates
	// are not supported. The zero Era.
	EraReiwa Era = iota
	// EraWestern is 西暦: YY is the last two digits of a year 2000..2099, as
	// banks that offer a western-calendar variant of the layout write it.
	EraWestern
)

// reiwaStart is the first day of the Reiwa era (令和元年5月1日).
var reiwaStart = Date{2019, time.May, 1}

// String names the era.
func (e Era) String() string {
	switch e {
	case EraReiwa:
		return "reiwa"
	case EraWestern:
		return "western"
	}
	return fmt.Sprintf("Era(%d)", int(e))
}

func (e Era) check() error {
	if e != EraReiwa && e != EraWestern {
		return fmt.Errorf("unknown era %d", int(e))
	}
	return nil
}

// yearOf returns the western year of a two-digit year yy in era e.
func (e Era) yearOf(yy int) int {
	if e == EraWestern {
		return 2000 + yy
	}
	return 2018 + yy // 令和元年 = 2019
}

// yyOf returns the two-digit year of d in era e, or an error if d cannot be
// written in that era.
func (e Era) yyOf(d Date) (int, error) {
	switch e {
	case EraWestern:
		if d.Year < 2000 || d.Year > 2099 {
			return 0, fmt.Errorf("%s is outside 2000..2099, which a western YYMMDD date can hold", d)
		}
		return d.Year - 2000, nil
	default:
		if d.Before(reiwaStart) {
			return 0, fmt.Errorf("%s is before the Reiwa era (2019-05-01)", d)
		}
		if d.Year-2018 > 99 {
			return 0, fmt.Errorf("%s is past Reiwa 99", d)
		}
		return d.Year - 2018, nil
	}
}
