// Package bankfile reads and writes the bank files Kinko exchanges with banks
// for escrow deposits and payouts:
//
//   - Zengin 入出金取引明細 (deposit/withdrawal statement, 200-byte records):
//     [ParseStatements], [WriteStatements].
//   - Zengin 総合振込 (bulk transfer request, 120-byte records):
//     [WriteTransfers], [ParseTransfers], and [ToZenginKana] to turn a
//     person's or company's name into the half-width kana the format allows.
//   - ISO 20022 camt.053 (BankToCustomerStatement, versions .02 to .08):
//     [ParseCamt053].
//   - ISO 20022 pain.001.001.09 (CustomerCreditTransferInitiation):
//     [WritePain001].
//
// The codecs are pure: bytes in, values out, and back. Every input is bounded
// (file size, record count, field widths: see the *Max constants) and every
// parser bounds its memory by the size of its input. Invalid input yields an
// *apperr.Error with code "invalid" whose Param names the record number and
// field (or the XML element) at fault.
//
// This package must never touch a database, the network or the clock, and
// must never decide anything about deals, matching or money movement: it does
// not know what a deposit is for. Callers (escrow) match entries to deals by
// [Entry.BankRef] / [CamtEntry.BankRef] and decide what to book. See
// docs/bankfiles.md for the layouts, the character sets and what is not
// supported.
package bankfile
