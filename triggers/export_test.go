package triggers

// LoadsLazily reports whether Match runs p with each property read from the record as the run
// reaches it.
func LoadsLazily(p *Program) bool {
	p.lazyOnce.Do(p.compileLazy)
	return p.lazy != nil
}
