package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"wedge/sync/hub"
	"wedge/sync/hub/ewaybill"
	"wedge/sync/hub/hubconfig"
)

// applyEWaybill builds the hub's e-waybill provider from hub.yaml's ewaybill section, reading the
// key and secret files; no provider configured leaves o unchanged.
func applyEWaybill(c hubconfig.EWaybill, o *hub.Options) error {
	if c.Provider == "" {
		return nil
	}
	read := func(what, path string) (string, error) {
		if path == "" {
			return "", nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("电子面单 %s 读取失败 / ewaybill %s: %w", what, what, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	opts := ewaybill.Kuaidi100Options{URL: c.URL, PrintType: c.PrintType, Accounts: map[string]ewaybill.Account{},
		Sender: ewaybill.Party{Name: c.Sender.Name, Mobile: c.Sender.Mobile, Company: c.Sender.Company, Address: c.Sender.Address}}
	var err error
	if opts.Key, err = read("key_file", c.KeyFile); err != nil {
		return err
	}
	if opts.Secret, err = read("secret_file", c.SecretFile); err != nil {
		return err
	}
	var carriers []string
	for code, a := range c.Carriers {
		acc := ewaybill.Account{PartnerID: a.PartnerID, PartnerName: a.PartnerName, Code: a.Code, Net: a.Net,
			ExpType: a.ExpType, PayType: a.PayType, TempID: a.TempID}
		if acc.PartnerKey, err = read("carriers."+code+".partner_key_file", a.PartnerKeyFile); err != nil {
			return err
		}
		if acc.PartnerSecret, err = read("carriers."+code+".partner_secret_file", a.PartnerSecretFile); err != nil {
			return err
		}
		opts.Accounts[code] = acc
		carriers = append(carriers, code)
	}
	p, err := ewaybill.NewKuaidi100(opts)
	if err != nil {
		return err
	}
	slices.Sort(carriers)
	lo, hi, timeout := c.Durations()
	o.EWaybill = hub.EWaybillOptions{Provider: p, Carriers: carriers, Sites: c.Sites, RetryMin: lo, RetryMax: hi, Timeout: timeout,
		Concurrency: c.Concurrency}
	return nil
}
