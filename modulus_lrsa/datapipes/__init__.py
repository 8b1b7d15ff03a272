"""datapipes"""
